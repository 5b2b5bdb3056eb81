// Every sampler with a reference loop reproduces it step by step without a
// U-Net: a replay model returns the recorded eps halves for each call (and
// checks the timestep and the first model input we would feed), guidance and
// the sampler run for real, and the latents after every call and at the end
// are compared with the reference (tiny-sd1, tiny-sd2 v-prediction, tiny-sdxl,
// img2img strength logic).
#define SD_TEST_MAIN
#include <cmath>
#include <string>

#include "harness.h"
#include "io/json.h"
#include "reference_file.h"
#include "sampling/sampler_setup.h"

using namespace sd;

namespace {

Tensor copy_of(const Tensor& src) {
  Tensor out = Tensor::empty(DType::F32, src.shape());
  std::copy(src.data_as<float>(), src.data_as<float>() + src.numel(), out.data_as<float>());
  return out;
}

// x / sqrt(sigma^2 + 1): the VP latent diffusers keeps for DPM/UniPC/DDIM/PNDM/LCM.
std::vector<float> to_vp(const Tensor& x, float sigma) {
  std::vector<float> v(x.data_as<float>(), x.data_as<float>() + x.numel());
  for (float& e : v) e /= std::sqrt(sigma * sigma + 1.0f);
  return v;
}

struct Case {
  const char* file;
  Sampler sampler;
  ScheduleKind kind;
  Prediction prediction;
  bool leading = false;  // model config timestep_spacing "leading" (SDXL)
  bool img2img = false;  // img2img_* file: strength + noised init latents
};

constexpr double kStepTol = 1e-4;   // per call (the reference's own float32 noise is ~1e-6)
constexpr double kFinalTol = 1e-3;  // issue bound after the full loop

void run_case(const Case& c) {
  sdtest::ReferenceFile ref(c.file);
  Json params = ref.meta("params");
  const int steps = int(params.find("steps")->as_number());
  const float g = float(params.find("guidance_scale")->as_number());
  ModelSchedule model = ModelSchedule::scaled_linear();
  SamplingOptions opt;
  opt.kind = c.kind;
  opt.steps = steps;
  opt.model_leading_spacing = c.leading;
  SamplingSetup setup = setup_sampling(model, c.sampler, opt);
  const bool vp = sampler_uses_vp_latents(c.sampler);

  // The schedule itself: sigmas (Heun's file interleaves them) and timesteps.
  if (ref.has("sigmas") && c.sampler != Sampler::Heun) {
    Tensor s = ref.f32("sigmas");
    CHECK_MSG(s.numel() == int64_t(setup.schedule.sigmas.size()), "%s: sigma count", c.file);
    if (s.numel() == int64_t(setup.schedule.sigmas.size())) {
      double e = sdtest::rel_l2(setup.schedule.sigmas.data(), s.data_as<float>(), size_t(s.numel()));
      CHECK_MSG(e <= 1e-6, "%s: sigmas rel %.3g", c.file, e);
    }
  }
  if (c.sampler != Sampler::Heun && c.sampler != Sampler::Pndm) {
    Tensor ts = ref.f32("timesteps");
    CHECK_MSG(ts.numel() == setup.schedule.steps(), "%s: timestep count", c.file);
    for (int i = 0; i < std::min<int>(int(ts.numel()), setup.schedule.steps()); ++i)
      CHECK_MSG(std::fabs(setup.schedule.timesteps[i] - ts.data_as<float>()[i]) <= 1e-3f, "%s: t[%d] %g vs %g", c.file, i,
                setup.schedule.timesteps[i], ts.data_as<float>()[i]);
  }

  Schedule sched = setup.schedule;
  Tensor x;
  if (c.img2img) {
    sched = truncate_for_strength(setup.schedule, params.find("strength")->as_number());
    CHECK(std::fabs(sched.timesteps[0] - ref.f32("latent_timestep").data_as<float>()[0]) <= 1e-3f);
    Tensor init = ref.f32("init_latents");
    x = Tensor::empty(DType::F32, init.shape());
    noise_latents(x, init, ref.f32("noise.1"), sched.sigmas[0]);  // noise.0 is the VAE posterior draw
    Tensor want = ref.f32("noised_latents");
    auto got = vp ? to_vp(x, sched.sigmas[0]) : to_vp(x, 0);
    double e = sdtest::rel_l2(got.data(), want.data_as<float>(), got.size());
    CHECK_MSG(e <= 1e-6, "%s: noised latents rel %.3g", c.file, e);
  } else {
    x = copy_of(ref.f32("x_T_noise"));
    float* xp = x.data_as<float>();
    for (int64_t i = 0; i < x.numel(); ++i) xp[i] *= setup.init_noise_sigma;
    Tensor want = ref.f32("latents_init");
    // latents_init is what diffusers feeds its loop: VP samplers start from unit noise.
    auto got = to_vp(x, vp ? sched.sigmas[0] : 0.0f);
    double e = sdtest::rel_l2(got.data(), want.data_as<float>(), got.size());
    CHECK_MSG(e <= 1e-6, "%s: initial latents rel %.3g", c.file, e);
  }

  int calls = 0;
  ModelFn replay = [&](const Tensor& x_in, float t, Tensor& out) {
    const std::string p = "step." + std::to_string(calls) + ".";
    if (!ref.has(p + "t")) {
      CHECK_MSG(false, "%s: more model calls than the reference (%d)", c.file, calls);
      ++calls;
      return;
    }
    float want_t = ref.f32(p + "t").data_as<float>()[0];
    CHECK_MSG(std::fabs(t - want_t) <= 1e-3f * std::fmax(1.0f, std::fabs(want_t)), "%s: call %d t %g vs %g", c.file, calls, t, want_t);
    CHECK(x_in.size(0) == 2);
    if (calls == 0) {
      Tensor want = ref.f32("step.0.model_input");
      double e = sdtest::rel_l2(x_in.data_as<float>(), want.data_as<float>(), size_t(want.numel()));
      CHECK_MSG(e <= 1e-5, "%s: first model input rel %.3g", c.file, e);
    }
    Tensor u = ref.f32(p + "eps_uncond"), co = ref.f32(p + "eps_cond");
    std::copy(u.data_as<float>(), u.data_as<float>() + u.numel(), out.data_as<float>());
    std::copy(co.data_as<float>(), co.data_as<float>() + co.numel(), out.data_as<float>() + u.numel());
    ++calls;
  };
  int draws = 0;
  NoiseFn noise = [&](Tensor& z) {
    Tensor n = ref.f32("noise." + std::to_string(draws + (c.img2img ? 2 : 0)));
    std::copy(n.data_as<float>(), n.data_as<float>() + n.numel(), z.data_as<float>());
    ++draws;
  };
  double worst = 0;
  StepCallback cb = [&](const StepInfo& s) {
    const std::string name = "step." + std::to_string(s.call) + ".latents";
    if (!ref.has(name)) return true;
    Tensor want = ref.f32(name);
    auto got = to_vp(s.x, vp ? s.sigma : 0.0f);
    double e = sdtest::rel_l2(got.data(), want.data_as<float>(), got.size());
    worst = std::fmax(worst, e);
    CHECK_MSG(e <= kStepTol, "%s: call %d latents rel %.3g", c.file, s.call, e);
    return true;
  };

  Denoiser den(replay, model, c.prediction, g);
  sampler_fn(c.sampler)(den, x, sched, noise, cb);
  finish_latents(x, sched);

  int ref_calls = 0;
  while (ref.has("step." + std::to_string(ref_calls) + ".t")) ++ref_calls;
  CHECK_MSG(calls == ref_calls, "%s: %d model calls, reference %d", c.file, calls, ref_calls);
  const int ref_draws = int(ref.meta("noise_calls").items().size()) - (c.img2img ? 2 : 0);
  CHECK_MSG(draws == ref_draws, "%s: %d noise draws, reference %d", c.file, draws, ref_draws);
  Tensor want = ref.f32("final_latents");
  double e = sdtest::rel_l2(x.data_as<float>(), want.data_as<float>(), size_t(want.numel()));
  CHECK_MSG(e <= kFinalTol, "%s: final rel %.3g", c.file, e);
  std::printf("     %-40s final rel %.2e, worst step %.2e\n", c.file, e, worst);
}

const Prediction kEps = Prediction::Epsilon, kV = Prediction::V;
const ScheduleKind kDiscrete = ScheduleKind::Discrete, kKarras = ScheduleKind::Karras;

}  // namespace

TEST(sd1_euler) { run_case({"tiny-sd1/ref/sample_euler.safetensors", Sampler::Euler, kDiscrete, kEps}); }
TEST(sd1_euler_a) { run_case({"tiny-sd1/ref/sample_euler_a.safetensors", Sampler::EulerA, kDiscrete, kEps}); }
TEST(sd1_heun) { run_case({"tiny-sd1/ref/sample_heun.safetensors", Sampler::Heun, kDiscrete, kEps}); }
TEST(sd1_dpmpp_2m) { run_case({"tiny-sd1/ref/sample_dpmpp_2m.safetensors", Sampler::Dpmpp2m, kDiscrete, kEps}); }
TEST(sd1_dpmpp_2m_karras) { run_case({"tiny-sd1/ref/sample_dpmpp_2m_karras.safetensors", Sampler::Dpmpp2m, kKarras, kEps}); }
TEST(sd1_lms) { run_case({"tiny-sd1/ref/sample_lms.safetensors", Sampler::Lms, kDiscrete, kEps}); }
TEST(sd1_ddim) { run_case({"tiny-sd1/ref/sample_ddim.safetensors", Sampler::Ddim, kDiscrete, kEps}); }
TEST(sd1_pndm) { run_case({"tiny-sd1/ref/sample_pndm.safetensors", Sampler::Pndm, kDiscrete, kEps}); }
TEST(sd1_lcm) { run_case({"tiny-sd1/ref/sample_lcm.safetensors", Sampler::Lcm, kDiscrete, kEps}); }
TEST(sd1_unipc) { run_case({"tiny-sd1/ref/sample_unipc.safetensors", Sampler::Unipc, kDiscrete, kEps}); }
TEST(sd1_img2img_euler) { run_case({"tiny-sd1/ref/img2img_euler.safetensors", Sampler::Euler, kDiscrete, kEps, false, true}); }
TEST(sd1_img2img_ddim) { run_case({"tiny-sd1/ref/img2img_ddim.safetensors", Sampler::Ddim, kDiscrete, kEps, false, true}); }
TEST(sd2_v_euler) { run_case({"tiny-sd2/ref/sample_euler.safetensors", Sampler::Euler, kDiscrete, kV}); }
TEST(sd2_v_euler_a) { run_case({"tiny-sd2/ref/sample_euler_a.safetensors", Sampler::EulerA, kDiscrete, kV}); }
TEST(sd2_v_dpmpp_2m_karras) { run_case({"tiny-sd2/ref/sample_dpmpp_2m_karras.safetensors", Sampler::Dpmpp2m, kKarras, kV}); }
TEST(sd2_v_ddim) { run_case({"tiny-sd2/ref/sample_ddim.safetensors", Sampler::Ddim, kDiscrete, kV}); }
TEST(sdxl_euler_leading) { run_case({"tiny-sdxl/ref/sample_euler.safetensors", Sampler::Euler, kDiscrete, kEps, true}); }
TEST(sdxl_euler_a_leading) { run_case({"tiny-sdxl/ref/sample_euler_a.safetensors", Sampler::EulerA, kDiscrete, kEps, true}); }
TEST(sdxl_dpmpp_2m_karras) { run_case({"tiny-sdxl/ref/sample_dpmpp_2m_karras.safetensors", Sampler::Dpmpp2m, kKarras, kEps, true}); }

TEST(lms_coefficients_match_the_reference_quadrature) {
  sdtest::ReferenceFile ref("tiny-sd1/ref/sample_lms.safetensors");
  std::vector<float> sigmas;
  const Json sigmas_list = ref.meta("sigmas_list"), coefficients = ref.meta("lms_coefficients");
  for (auto& v : sigmas_list.items()) sigmas.push_back(float(v.as_number()));
  int checked = 0;
  for (auto& row : coefficients.items()) {
    const auto& r = row.items();
    int order = int(r[0].as_number()), step = int(r[1].as_number()), j = int(r[2].as_number());
    double want = r[3].as_number(), got = lms_coefficient(sigmas, step, order, j);
    CHECK_MSG(std::fabs(got - want) <= 1e-6 * std::fmax(1e-3, std::fabs(want)), "order %d step %d j %d: %.8g vs %.8g", order, step, j, got,
              want);
    ++checked;
  }
  CHECK(checked >= 20);
}
