// The whole pipeline (text encoder -> sampler loop with batched CFG -> VAE
// decode) against the reference's sampling loops: the reference's own random
// draws are replayed, so final latents and 8-bit images must match
// (latents rel. L2 <= 1e-3, image mean absolute difference <= 1.0 on 0..255).
#define SD_TEST_MAIN
#include <cmath>
#include <cstring>
#include <string>

#include "core/error.h"
#include "harness.h"
#include "io/json.h"
#include "io/model_loader.h"
#include "pipeline/generate_internal.h"
#include "prompt_tokens.h"
#include "reference_file.h"

using namespace sd;

namespace {

// Serves the reference's recorded draws: x_T_noise for the initial noise
// (when the reference passed it in), then noise.0, noise.1, ... in call order.
class ReplaySource : public RandomSource {
 public:
  explicit ReplaySource(const sdtest::ReferenceFile& ref) : ref_(ref) {}
  void randn(Tensor& out, DrawPurpose purpose) override {
    std::string name = purpose == DrawPurpose::InitialNoise && ref_.has("x_T_noise") ? "x_T_noise" : "noise." + std::to_string(next_++);
    CHECK_MSG(ref_.has(name), "the pipeline drew more noise than the reference (%s)", name.c_str());
    if (!ref_.has(name)) return;
    Tensor t = ref_.f32(name);
    CHECK_MSG(t.numel() == out.numel(), "%s: %lld values, pipeline wants %lld", name.c_str(), (long long)t.numel(), (long long)out.numel());
    if (t.numel() == out.numel()) std::memcpy(out.data(), t.data(), size_t(out.nbytes()));
  }
  int draws() const { return next_; }

 private:
  const sdtest::ReferenceFile& ref_;
  int next_ = 0;
};

class Recorder : public Callbacks {
 public:
  void progress(Stage, int, int, float) override { ++events; }
  void preview(int, const RgbImage&) override {}
  bool is_aborted() const override { return false; }
  int events = 0;
};

RgbImage rgb_of(const Tensor& u8) {
  RgbImage img;
  img.height = int(u8.size(0));
  img.width = int(u8.size(1));
  img.data.assign(u8.data_as<uint8_t>(), u8.data_as<uint8_t>() + u8.numel());
  return img;
}

struct Case {
  const char* model;   // relative to fixtures
  const char* config;  // diffusers folder with configs, or ""
  const char* ref;
  const char* sampler;
  const char* scheduler;
};

void run_case(const Case& k) {
  LoadOptions lo;
  if (*k.config) lo.config_path = sdtest::fixture(k.config);
  auto model = load_model(sdtest::fixture(k.model), lo);
  sdtest::ReferenceFile ref(k.ref);
  Json params = ref.meta("params");
  GenerateParams p;
  p.prompt = sdtest::tokens_of(ref["prompt_ids"]);
  p.negative_prompt = sdtest::tokens_of(ref["negative_ids"]);
  p.width = int(params.find("width")->as_number());
  p.height = int(params.find("height")->as_number());
  p.steps = int(params.find("steps")->as_number());
  p.cfg_scale = float(params.find("guidance_scale")->as_number());
  p.sampler = k.sampler;
  p.scheduler = k.scheduler;
  const Json* strength = params.find("strength");
  if (strength && strength->is_number()) p.strength = float(strength->as_number());
  const char* init = ref.has("init_image_u8") ? "init_image_u8" : nullptr;
  if (init) p.init_image = rgb_of(ref[init]);
  if (ref.has("mask_u8")) {
    Tensor m = ref["mask_u8"];
    p.mask.height = int(m.size(0));
    p.mask.width = int(m.size(1));
    p.mask.data.assign(m.data_as<uint8_t>(), m.data_as<uint8_t>() + m.numel());
  }
  ReplaySource rng(ref);
  Recorder cb;
  GenerateResult result;
  Tensor latents;
  generate_with(*model, p, cb, rng, &result, &latents);
  Tensor want = ref.f32("final_latents");
  double e = sdtest::rel_l2(latents.data_as<float>(), want.data_as<float>(), size_t(want.numel()));
  CHECK_MSG(e <= 1e-3, "%s: final latents rel %.3g", k.ref, e);
  Tensor want_u8 = ref["image_u8"];
  double mad = 0;
  const auto& got = result.images.at(0).data;
  for (size_t i = 0; i < got.size(); ++i) mad += std::fabs(double(got[i]) - double(want_u8.data_as<uint8_t>()[i]));
  mad /= double(got.size());
  CHECK_MSG(mad <= 1.0, "%s: image mean abs diff %.3f", k.ref, mad);
  int ref_draws = int(ref.meta("noise_calls").items().size());
  CHECK_MSG(rng.draws() == ref_draws, "%s: %d draws, reference %d", k.ref, rng.draws(), ref_draws);
  std::printf("     %-48s latents rel %.2e, image MAD %.3f\n", k.ref, e, mad);
}

}  // namespace

TEST(sd1_txt2img_every_reference_sampler) {
  const char* m = "tiny-sd1/tiny-sd1.safetensors";
  const char* cfg = "tiny-sd1/diffusers";
  run_case({m, cfg, "tiny-sd1/ref/sample_euler.safetensors", "euler", "discrete"});
  run_case({m, cfg, "tiny-sd1/ref/sample_euler_a.safetensors", "euler_a", "discrete"});
  run_case({m, cfg, "tiny-sd1/ref/sample_heun.safetensors", "heun", "discrete"});
  run_case({m, cfg, "tiny-sd1/ref/sample_dpmpp_2m.safetensors", "dpm++2m", "discrete"});
  run_case({m, cfg, "tiny-sd1/ref/sample_dpmpp_2m_karras.safetensors", "dpm++2m", "karras"});
  run_case({m, cfg, "tiny-sd1/ref/sample_lms.safetensors", "lms", "discrete"});
  run_case({m, cfg, "tiny-sd1/ref/sample_ddim.safetensors", "ddim", "discrete"});
  run_case({m, cfg, "tiny-sd1/ref/sample_pndm.safetensors", "pndm", "discrete"});
  run_case({m, cfg, "tiny-sd1/ref/sample_lcm.safetensors", "lcm", "discrete"});
  run_case({m, cfg, "tiny-sd1/ref/sample_unipc.safetensors", "unipc", "discrete"});
}

TEST(sd1_img2img) {
  run_case({"tiny-sd1/diffusers", "", "tiny-sd1/ref/img2img_euler.safetensors", "euler", "discrete"});
  run_case({"tiny-sd1/diffusers", "", "tiny-sd1/ref/img2img_ddim.safetensors", "ddim", "discrete"});
}

TEST(sd2_v_prediction) {
  const char* m = "tiny-sd2/diffusers";
  run_case({m, "", "tiny-sd2/ref/sample_euler.safetensors", "euler", "discrete"});
  run_case({m, "", "tiny-sd2/ref/sample_euler_a.safetensors", "euler_a", "discrete"});
  run_case({m, "", "tiny-sd2/ref/sample_ddim.safetensors", "ddim", "discrete"});
  run_case({m, "", "tiny-sd2/ref/sample_dpmpp_2m_karras.safetensors", "dpm++2m", "karras"});
}

TEST(inpainting) {
  const char* m = "tiny-sd1-inpaint/diffusers";
  run_case({m, "", "tiny-sd1-inpaint/ref/inpaint9_euler.safetensors", "euler", "discrete"});
  run_case({m, "", "tiny-sd1-inpaint/ref/inpaint9_ddim.safetensors", "ddim", "discrete"});
  run_case({"tiny-sd1/diffusers", "", "tiny-sd1-inpaint/ref/inpaint4_euler.safetensors", "euler", "discrete"});
}

// 64x64 on the reference case's prompt pair.
static GenerateParams reference_prompt_params(int steps, const char* sampler, uint64_t seed) {
  sdtest::ReferenceFile ref("tiny-sd1/ref/sample_euler.safetensors");
  GenerateParams p;
  p.prompt = sdtest::tokens_of(ref["prompt_ids"]);
  p.negative_prompt = sdtest::tokens_of(ref["negative_ids"]);
  p.width = p.height = 64;
  p.steps = steps;
  p.sampler = sampler;
  p.seed = seed;
  return p;
}

// A `ztsnr` marker (trained with zero terminal SNR) samples on the rescaled
// schedule: the first denoise event's sigma is ~4096 instead of 14.6.
TEST(ztsnr_marker_samples_the_zero_terminal_snr_schedule) {
  struct Sigmas : Recorder {
    void progress(Stage stage, int step, int, float sigma) override {
      if (stage == Stage::Denoise && step == 0) first = sigma;
    }
    float first = 0;
  };
  auto model = load_model(sdtest::fixture("tiny-sd1/diffusers"), {});
  const GenerateParams p = reference_prompt_params(2, "euler", 3);
  Sigmas plain, zsnr;
  GenerateResult a, b;
  run_generate(*model, p, plain, &a);
  model->carried["ztsnr"] = Tensor::zeros(DType::F32, {1});
  run_generate(*model, p, zsnr, &b);
  CHECK_MSG(std::fabs(plain.first - 14.6146f) < 1e-3f && std::fabs(zsnr.first - 4096.0f) < 0.5f, "first sigma %g, %g", plain.first,
            zsnr.first);
  CHECK(a.images.at(0).data != b.images.at(0).data);
}

TEST(txt2img_seeded_is_deterministic) {
  auto model = load_model(sdtest::fixture("tiny-sd1/diffusers"), {});
  GenerateParams p = reference_prompt_params(3, "euler_a", 7);
  Recorder cb;
  GenerateResult a, b;
  run_generate(*model, p, cb, &a);
  run_generate(*model, p, cb, &b);
  CHECK(a.images.at(0).data == b.images.at(0).data);
  p.seed = 8;
  GenerateResult c;
  run_generate(*model, p, cb, &c);
  CHECK(a.images.at(0).data != c.images.at(0).data);
}
