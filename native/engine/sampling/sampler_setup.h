// Per-sampler conventions of the reference (diffusers 0.35 defaults): which
// timestep spacing a `discrete` schedule uses, whether timesteps are
// integers, where the schedule ends and how unit noise is scaled into the
// first latent. The pipeline calls this once per generate().
#pragma once
#include <string>
#include <vector>

#include "sampling/samplers.h"
#include "sampling/schedules.h"

namespace sd {

enum class Sampler { Euler, EulerA, Heun, Dpm2, Dpmpp2m, Dpmpp2sA, Dpmpp2mSde, Lms, Ddim, Pndm, Lcm, Unipc, Ipndm, Tcd };

// euler, euler_a, heun, dpm2, dpm++2m, dpm++2s_a, dpm++2m_sde, lms, ddim,
// pndm, lcm, unipc, ipndm, tcd. Throws ERR_INVALID_OPTION otherwise.
Sampler parse_sampler(const std::string& name);
const char* sampler_name(Sampler s);
SamplerFn sampler_fn(Sampler s);
// True for the schedulers diffusers runs on variance-preserving latents.
bool sampler_uses_vp_latents(Sampler s);

struct SamplingOptions {
  ScheduleKind kind = ScheduleKind::Discrete;
  int steps = 20;
  std::vector<float> custom_sigmas;  // non-empty: used instead of `kind`/`steps`
  // The model's scheduler config says timestep_spacing "leading" (SDXL base):
  // the Euler family and DPM-Solver/UniPC then use their "leading" spacing, as
  // diffusers does with that config (DDIM/PNDM always lead, LCM/TCD never).
  bool model_leading_spacing = false;
  // timestep_spacing "trailing" (e.g. SDXL-Turbo): every sampler but LCM/TCD
  // then uses trailing spacing.
  bool model_trailing_spacing = false;
  int steps_offset = 1;  // the model config's steps_offset ("leading" spacings)
  AysFamily ays = AysFamily::Sd1;
};

struct SamplingSetup {
  Schedule schedule;
  // First latent = unit noise * init_noise_sigma (k-diffusion form).
  // Euler family: sigma_max ("linspace") or sqrt(sigma_max^2 + 1) ("leading");
  // VP samplers: sqrt(sigma_max^2 + 1) (diffusers starts from unit noise).
  float init_noise_sigma = 1.0f;
};

SamplingSetup setup_sampling(const ModelSchedule& model, Sampler sampler, const SamplingOptions& opt);

// img2img: the init latents noised to the first level of a (truncated) schedule:
// x = init + sigma * noise (diffusers add_noise, in k-diffusion form).
void noise_latents(Tensor& x, const Tensor& init, const Tensor& noise, float sigma);

// The latent to decode: the VP latent x / sqrt(sigma_last^2 + 1), which is x
// itself when the schedule ends at 0 (all but DDIM/PNDM's discrete schedule).
void finish_latents(Tensor& x, const Schedule& sched);

}  // namespace sd
