#include "sampling/sampler_setup.h"

#include <cmath>

#include "core/error.h"

namespace sd {

namespace {
struct Entry {
  Sampler sampler;
  const char* name;
  SamplerFn fn;
  bool vp;  // diffusers keeps variance-preserving latents for this scheduler
};
const Entry kSamplers[] = {
    {Sampler::Euler, "euler", sample_euler, false},
    {Sampler::EulerA, "euler_a", sample_euler_a, false},
    {Sampler::Heun, "heun", sample_heun, false},
    {Sampler::Dpm2, "dpm2", sample_dpm2, false},
    {Sampler::Dpmpp2m, "dpm++2m", sample_dpmpp_2m, true},
    {Sampler::Dpmpp2sA, "dpm++2s_a", sample_dpmpp_2s_a, false},
    {Sampler::Dpmpp2mSde, "dpm++2m_sde", sample_dpmpp_2m_sde, true},
    {Sampler::Lms, "lms", sample_lms, false},
    {Sampler::Ddim, "ddim", sample_ddim, true},
    {Sampler::Pndm, "pndm", sample_pndm, true},
    {Sampler::Lcm, "lcm", sample_lcm, true},
    {Sampler::Unipc, "unipc", sample_unipc, true},
    {Sampler::Ipndm, "ipndm", sample_ipndm, false},
    {Sampler::Tcd, "tcd", sample_tcd, true},
};
const Entry& entry(Sampler s) {
  for (const Entry& e : kSamplers)
    if (e.sampler == s) return e;
  fail(ErrorCode::Internal, "unknown sampler enum");
}
}  // namespace

Sampler parse_sampler(const std::string& name) {
  for (const Entry& e : kSamplers)
    if (name == e.name) return e.sampler;
  std::string all;
  for (const Entry& e : kSamplers) all += std::string(all.empty() ? "" : ", ") + e.name;
  fail(ErrorCode::InvalidOption, "unknown sampler '" + name + "' (" + all + ")");
}

const char* sampler_name(Sampler s) { return entry(s).name; }
SamplerFn sampler_fn(Sampler s) { return entry(s).fn; }
bool sampler_uses_vp_latents(Sampler s) { return entry(s).vp; }

SamplingSetup setup_sampling(const ModelSchedule& model, Sampler sampler, const SamplingOptions& opt) {
  // diffusers' per-scheduler defaults (see the fixture README "Per scheduler").
  ScheduleOptions so;
  so.kind = opt.kind;
  so.ays = opt.ays;
  so.steps_offset = opt.steps_offset;
  if (opt.model_leading_spacing && opt.model_trailing_spacing)
    fail(ErrorCode::InvalidOption, "timestep spacing cannot be both leading and trailing");
  switch (sampler) {
    case Sampler::Dpmpp2m:
    case Sampler::Dpmpp2mSde:
    case Sampler::Unipc:
      so.spacing = opt.model_leading_spacing ? Spacing::LeadingMultistep : Spacing::LinspaceRounded;
      so.integer_timesteps = true;
      break;
    case Sampler::Ddim:
    case Sampler::Pndm:
      so.spacing = Spacing::Leading;
      so.integer_timesteps = true;
      so.final_sigma_min = true;  // set_alpha_to_one = False
      break;
    case Sampler::Lcm:
    case Sampler::Tcd:
      so.spacing = Spacing::Lcm;
      so.integer_timesteps = true;
      break;
    default:  // Euler family: fractional timesteps, the model config's spacing
      so.spacing = opt.model_leading_spacing ? Spacing::Leading : Spacing::Linspace;
      so.range_from_spacing = true;
      break;
  }
  if (opt.model_trailing_spacing && sampler != Sampler::Lcm && sampler != Sampler::Tcd) so.spacing = Spacing::Trailing;
  SamplingSetup out;
  out.schedule =
      opt.custom_sigmas.empty() ? make_schedule(model, opt.steps, so) : custom_schedule(model, opt.custom_sigmas, so.integer_timesteps);
  const float s0 = out.schedule.sigmas.front();
  const bool vp = sampler_uses_vp_latents(sampler);
  const bool leading = so.spacing == Spacing::Leading;
  out.init_noise_sigma = vp || leading ? std::sqrt(s0 * s0 + 1.0f) : s0;
  return out;
}

void noise_latents(Tensor& x, const Tensor& init, const Tensor& noise, float sigma) {
  if (x.numel() != init.numel() || x.numel() != noise.numel()) fail(ErrorCode::Internal, "noise_latents: shape mismatch");
  float* xp = x.data_as<float>();
  const float *ip = init.data_as<float>(), *np = noise.data_as<float>();
  for (int64_t i = 0; i < x.numel(); ++i) xp[i] = ip[i] + np[i] * sigma;
}

void finish_latents(Tensor& x, const Schedule& sched) {
  const float s = sched.sigmas.back();
  if (s == 0) return;
  const float k = 1.0f / std::sqrt(s * s + 1.0f);
  float* xp = x.data_as<float>();
  for (int64_t i = 0; i < x.numel(); ++i) xp[i] *= k;
}

}  // namespace sd
