// Run-time LoRA side paths on quantized weights (lora_merge.h): on tiny-sd1
// quantized to q8_0, y = W_q x + up(down(x)) must equal dequantize-then-merge
// of the same LoRA on the same quantized weights within float error, for
// linear and LoCon conv weights, several LoRAs at once and the whole
// generation; the quantized base stays bit-identical and untouched.
#define SD_TEST_MAIN
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "kernels/quant_gemm.h"
#include "lora/lora_merge.h"
#include "models/clip_text.h"
#include "models/layers.h"
#include "models/unet.h"
#include "null_callbacks.h"
#include "pipeline/generate_internal.h"
#include "tensor/cpu_features.h"
#include "test_io_util.h"
#include "test_model_fixtures.h"

using namespace sd;
using namespace modeltest;

namespace {

const std::string kKohya = "tiny-sd1-lora/tiny-sd1-lora.kohya.safetensors";
const std::string kPeft = "tiny-sd1-lora/tiny-sd1-lora.diffusers.safetensors";
const std::string kToQ = "unet.middle_block.1.transformer_blocks.0.attn2.to_q";
const std::string kConv = "unet.input_blocks.1.0.in_layers.2";  // [32, 32, 3, 3]

// Float rounding of the side path vs the merged f32 weight: both sum the same
// products in different orders (relative 1e-6 level); 1e-4 leaves room for the
// sampler's amplification over a few steps without hiding a wrong term
// (dropping the LoRA moves the U-Net output by ~1e-1, see below).
constexpr double kModuleBound = 1e-5;
constexpr double kLoopBound = 1e-4;

// Every byte of every weight (the base must come out of a call untouched).
std::vector<std::string> weight_bytes(const LoadedModel& m) {
  std::vector<std::string> out;
  for (const auto& [name, t] : m.weights.all()) out.emplace_back(static_cast<const char*>(t.data()), size_t(t.nbytes()));
  return out;
}

// The side-vs-merge comparisons need the quantized base computed exactly
// (dequantized, f32 GEMM). Where an integer GEMM takes q8_0 (AVX-512 VNNI,
// AVX-VNNI, NEON: activations quantized to 8 bits, ~1e-2 relative by design)
// they run on a path that decodes q8_0 for the f32 GEMM instead: AVX2 on x86
// without AVX-VNNI, else scalar.
void use_exact_q8_0_path() {
  if (kern::quant_gemm_preferred(DType::Q8_0, 64) && cpu_path_supported(CpuPath::Avx2)) set_cpu_path(CpuPath::Avx2);
  if (kern::quant_gemm_preferred(DType::Q8_0, 64)) set_cpu_path(CpuPath::Scalar);
}

GenerateParams small_params() {
  GenerateParams p;
  TokenChunk c;
  for (int i = 0; i < kTokensPerChunk; ++i) {
    c.ids[size_t(i)] = i == 0 ? 49406 : i < 5 ? 320 + i : 49407;  // BOS, four word ids, EOS padding
    c.weights[size_t(i)] = 1.0f;
  }
  p.prompt.chunks.push_back(c);
  p.negative_prompt.chunks.push_back(c);
  p.negative_prompt.chunks[0].ids[1] = 49407;
  p.width = p.height = 64;
  p.steps = 3;
  p.cfg_scale = 7.5f;
  p.sampler = "euler";
  p.scheduler = "discrete";
  p.seed = 42;
  p.threads = 1;
  return p;
}

}  // namespace

TEST(quantized_targets_get_side_paths_and_keep_their_quantized_weight) {
  auto q = load_tiny_sd1("q8_0");
  LoraOverlay o = merge_loras(*q, {{fixture(kKohya), 0.7f}});
  CHECK(o.merged_weights + o.side_paths == 216);
  CHECK(o.side_paths > 0);
  int quantized_targets = 0;
  for (const auto& [name, t] : o.model->weights.all())
    if (name.size() > 15 && name.compare(name.size() - 15, 15, kLoraSideDown) == 0) {
      const std::string w = name.substr(0, name.size() - 15) + ".weight";
      CHECK(dtype_is_quantized(o.model->weights.get(w).dtype()));
      CHECK(o.model->weights.get(w).data() == q->weights.get(w).data());  // the base tensor itself, not a copy
      ++quantized_targets;
    }
  CHECK(quantized_targets == o.side_paths);
  CHECK(o.model->weights.get(kToQ + ".weight").dtype() == DType::Q8_0);
  CHECK(o.model->weights.get(kToQ + kLoraSideDown).shape() == Shape({4, 64}));  // [r, in]
  CHECK(o.model->weights.get(kToQ + kLoraSideUp).shape() == Shape({64, 4}));    // [out, r]
}

TEST(side_path_modules_equal_dequantize_then_merge) {
  use_exact_q8_0_path();
  auto q = load_tiny_sd1("q8_0");
  Refs ref = load_refs("tiny-sd1-lora/ref/lora_s070.safetensors");
  // Two files on the same weights (ranks concatenated) and a negative scale.
  const std::vector<LoraRequest> set = {{fixture(kKohya), 0.9f}, {fixture(kPeft), -0.2f}};
  LoraOverlay side = merge_loras(*q, set);
  LoraOverlay merged = merge_loras(*q, set, LoraApply::Merge);
  CHECK(side.side_paths > 0 && merged.side_paths == 0 && merged.merged_weights == 216);
  CHECK(side.model->weights.get(kToQ + kLoraSideDown).shape() == Shape({8, 64}));
  Compute c;
  Tensor a = UNet::bind(*side.model).forward(c, ref["unet.sample"], ref["unet.timestep"], ref["unet.encoder_hidden_states"]);
  Tensor b = UNet::bind(*merged.model).forward(c, ref["unet.sample"], ref["unet.timestep"], ref["unet.encoder_hidden_states"]);
  Tensor none = UNet::bind(*q).forward(c, ref["unet.sample"], ref["unet.timestep"], ref["unet.encoder_hidden_states"]);
  const double e = rel_err(a, b), lora_effect = rel_err(none, b);
  CHECK_MSG(e <= kModuleBound && lora_effect > 1e3 * e, "unet side vs merge rel %.3g (LoRA effect %.3g)", e, lora_effect);
  std::printf("  unet: side path vs merge rel %.2e (LoRA effect %.2e)\n", e, lora_effect);
  // Against the f32 reference at 0.7 (= 0.9 - 0.2): only q8_0 rounding separates them.
  CHECK(rel_err(a, ref["unet.out"]) < 5e-2);
  ClipTextEncoder ta = ClipTextEncoder::bind(*side.model, "te1"), tb = ClipTextEncoder::bind(*merged.model, "te1");
  const auto ids = ids_of(ref["te.p0.input_ids"]);
  const double et = rel_err(ta.encode(c, ids, 1, {1, true, false}).hidden, tb.encode(c, ids, 1, {1, true, false}).hidden);
  CHECK_MSG(et <= kModuleBound, "text encoder side vs merge rel %.3g", et);
  std::printf("  te1: side path vs merge rel %.2e\n", et);
}

TEST(locon_conv_side_path_equals_merge_on_a_q8_0_conv) {
  auto q = load_tiny_sd1("q8_0");
  CHECK(q->weights.get(kConv + ".weight").dtype() == DType::Q8_0);
  iotest::TempDir dir("lora-quant");
  // LoCon: 3x3 down [2, 32, 3, 3], 1x1 up [32, 2, 1, 1], alpha 1.
  Tensor down = Tensor::empty(DType::F32, {2, 32, 3, 3}), up = Tensor::empty(DType::F32, {32, 2, 1, 1});
  for (int64_t i = 0; i < down.numel(); ++i) down.data_as<float>()[i] = 0.02f * float(i % 11) - 0.1f;
  for (int64_t i = 0; i < up.numel(); ++i) up.data_as<float>()[i] = 0.05f * float(i % 5) - 0.1f;
  Tensor alpha = Tensor::empty(DType::F32, {});
  alpha.data_as<float>()[0] = 1.0f;
  const std::string name = "lora_unet_down_blocks_0_resnets_0_conv1";
  const std::string path = dir.path + "/locon.safetensors";
  iotest::write_file(
      path, iotest::safetensors_bytes({iotest::out_tensor(name + ".lora_down.weight", down),
                                       iotest::out_tensor(name + ".lora_up.weight", up), iotest::out_tensor(name + ".alpha", alpha)}));
  LoraOverlay side = merge_loras(*q, {{path, 1.5f}});
  LoraOverlay merged = merge_loras(*q, {{path, 1.5f}}, LoraApply::Merge);
  CHECK(side.side_paths == 1 && side.merged_weights == 0);
  const Conv2d cs = Conv2d::bind(side.model->weights, kConv, 1, 1), cm = Conv2d::bind(merged.model->weights, kConv, 1, 1);
  CHECK(cs.lora.active() && !cm.lora.active());
  CHECK(cs.lora.down.shape() == Shape({2, 32, 3, 3}) && cs.lora.up.shape() == Shape({32, 2, 1, 1}));
  Tensor x = Tensor::empty(DType::F32, {2, 32, 9, 7});  // odd sizes: padding at every border
  for (int64_t i = 0; i < x.numel(); ++i) x.data_as<float>()[i] = std::sin(0.37f * float(i));
  Compute c;
  Tensor a = cs(c, x), b = cm(c, x), base = Conv2d::bind(q->weights, kConv, 1, 1)(c, x);
  const double e = rel_err(a, b), effect = rel_err(base, b);
  CHECK_MSG(e <= kModuleBound && effect > 1e3 * e, "LoCon side vs merge rel %.3g (effect %.3g)", e, effect);
  std::printf("  LoCon conv: side path vs merge rel %.2e (effect %.2e)\n", e, effect);
}

TEST(generation_with_side_paths_equals_merged_and_base_stays_bit_identical) {
  use_exact_q8_0_path();
  auto q = load_tiny_sd1("q8_0");
  const std::vector<std::string> bytes_before = weight_bytes(*q);
  GenerateParams plain = small_params();
  GenerateParams with = plain;
  with.loras = {{fixture(kKohya), 0.7f}};
  sdtest::NullCallbacks cb;
  LoraCache cache;
  GenerateResult before, side, after;
  run_generate(*q, plain, cb, &before, &cache);
  Tensor side_latents;
  {
    LoraOverlay o = cache.get(*q, with.loras);
    CHECK(o.side_paths > 0);
    TorchRandomSource rng(with.seed);
    generate_with(*o.model, with, cb, rng, &side, &side_latents);
  }
  GenerateResult via_run;
  run_generate(*q, with, cb, &via_run, &cache);  // the pipeline's own entry, cached overlay
  CHECK(via_run.images[0].data == side.images[0].data);
  run_generate(*q, plain, cb, &after, &cache);
  CHECK(before.images[0].data == after.images[0].data);
  CHECK(before.images[0].data != side.images[0].data);
  CHECK(weight_bytes(*q) == bytes_before);  // every quantized block, bit for bit

  LoraOverlay merged = merge_loras(*q, with.loras, LoraApply::Merge);
  GenerateResult ref;
  Tensor merged_latents;
  TorchRandomSource rng(with.seed);
  generate_with(*merged.model, with, cb, rng, &ref, &merged_latents);
  const double e = rel_err(side_latents, merged_latents);
  double mad = 0;
  for (size_t i = 0; i < ref.images[0].data.size(); ++i) mad += std::fabs(double(ref.images[0].data[i]) - side.images[0].data[i]);
  mad /= double(ref.images[0].data.size());
  CHECK_MSG(e <= kLoopBound && mad <= 0.05, "final latents side vs merge rel %.3g, image MAD %.3f", e, mad);
  std::printf("  3-step Euler: final latents side path vs merge rel %.2e, image MAD %.3f\n", e, mad);
}

TEST(f16_models_still_merge) {
  auto m = load_tiny_sd1();
  LoraOverlay o = merge_loras(*m, {{fixture(kKohya), 0.7f}});
  CHECK(o.merged_weights == 216 && o.side_paths == 0);
  CHECK(!o.model->weights.has(kToQ + kLoraSideDown));
}
