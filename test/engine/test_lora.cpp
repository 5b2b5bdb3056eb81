// LoRA against the tiny-sd1-lora references: name mapping for every target in
// name_map.json, both file formats (kohya with .alpha, peft with alpha in the
// adapter metadata), text encoder and U-Net outputs at scales 0.7 and 1.0,
// the full Euler loop, exact restoration of the base weights, the merge
// cache, LoCon 3x3 convs and bad files.
#define SD_TEST_MAIN
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "io/json.h"
#include "io/name_map.h"
#include "io/safetensors.h"
#include "kernels/ops.h"
#include "lora/lora_file.h"
#include "lora/lora_merge.h"
#include "lora/lora_targets.h"
#include "models/clip_text.h"
#include "models/unet.h"
#include "null_callbacks.h"
#include "pipeline/generate_internal.h"
#include "prompt_tokens.h"
#include "test_io_util.h"
#include "test_model_fixtures.h"
#include "util/strings.h"

using namespace sd;
using namespace modeltest;

namespace {

const std::string kKohya = "tiny-sd1-lora/tiny-sd1-lora.kohya.safetensors";
const std::string kPeft = "tiny-sd1-lora/tiny-sd1-lora.diffusers.safetensors";

// The reference's Euler loop parameters (tiny-sd1-lora/ref/sample_euler_*).
GenerateParams euler_params(const Refs& ref) {
  GenerateParams p;
  p.prompt = sdtest::tokens_of(ref["prompt_ids"]);
  p.negative_prompt = sdtest::tokens_of(ref["negative_ids"]);
  p.width = p.height = 128;
  p.steps = 8;
  p.cfg_scale = 7.5f;
  p.sampler = "euler";
  p.scheduler = "discrete";
  p.seed = 1234;
  p.threads = 1;
  return p;
}

void check_modules(const LoadedModel& m, const std::string& ref_file, const char* what) {
  Refs ref = load_refs(ref_file);
  Compute c;
  ClipTextEncoder te = ClipTextEncoder::bind(m, "te1");
  for (const char* k : {"te.p0.", "te.p1."}) {
    ClipOutput out = te.encode(c, ids_of(ref[std::string(k) + "input_ids"]), 1, {1, true, false});
    CHECK_CLOSE(out.hidden, ref[std::string(k) + "last_hidden_state"], std::string(what) + " " + k + "last_hidden_state");
  }
  UNet unet = UNet::bind(m);
  Tensor out = unet.forward(c, ref["unet.sample"], ref["unet.timestep"], ref["unet.encoder_hidden_states"]);
  CHECK_CLOSE(out, ref["unet.out"], std::string(what) + " unet.out");
  std::printf("  %-40s unet rel %.2e\n", what, rel_err(out, ref["unet.out"]));
}

std::string no_prefix(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0 ? s.substr(p.size()) : ""; }

}  // namespace

TEST(every_target_of_name_map_json_maps_to_its_ldm_weight_in_both_spellings) {
  auto m = load_tiny_sd1();
  LoraTargets targets = lora_targets(*m);
  Json map = Json::parse(read_text(fixture("tiny-sd1-lora/name_map.json")));
  int n = 0;
  for (const Json& e : map.items()) {
    const std::string ldm = e.find("ldm_weight")->as_string();
    std::string want = no_prefix(ldm, "model.diffusion_model.");
    want = want.empty() ? "te1." + no_prefix(ldm, "cond_stage_model.transformer.") : "unet." + want;
    for (const char* key : {"kohya", "diffusers_peft"}) {
      auto it = targets.find(e.find(key)->as_string());
      CHECK_MSG(it != targets.end() && it->second == want, "%s -> %s, want %s", e.find(key)->as_string().c_str(),
                it == targets.end() ? "(none)" : it->second.c_str(), want.c_str());
    }
    ++n;
  }
  CHECK(n == 216);
}

TEST(unet_paths_cover_resnets_samplers_and_fixed_layers) {
  auto m = load_tiny_sd1();
  // tiny-sd1: 2 layers per block; down block 0 ends with a downsampler at input_blocks.3.
  CHECK(unet_diffusers_path(m->weights, "input_blocks.3.0.op") == "down_blocks.0.downsamplers.0.conv");
  CHECK(unet_diffusers_path(m->weights, "input_blocks.4.0.in_layers.2") == "down_blocks.1.resnets.0.conv1");
  CHECK(unet_diffusers_path(m->weights, "input_blocks.4.0.skip_connection") == "down_blocks.1.resnets.0.conv_shortcut");
  CHECK(unet_diffusers_path(m->weights, "middle_block.2.out_layers.3") == "mid_block.resnets.1.conv2");
  CHECK(unet_diffusers_path(m->weights, "output_blocks.2.1.conv") == "up_blocks.0.upsamplers.0.conv");
  CHECK(unet_diffusers_path(m->weights, "output_blocks.3.0.emb_layers.1") == "up_blocks.1.resnets.0.time_emb_proj");
  CHECK(unet_diffusers_path(m->weights, "time_embed.2") == "time_embedding.linear_2");
  CHECK(unet_diffusers_path(m->weights, "input_blocks.0.0") == "conv_in");
}

TEST(both_formats_read_with_the_same_modules_and_alpha) {
  LoraFile k = read_lora_file(fixture(kKohya));
  LoraFile p = read_lora_file(fixture(kPeft));
  CHECK(k.modules.size() == 216 && p.modules.size() == 216);
  CHECK(k.unknown_keys.empty() && p.unknown_keys.empty());
  for (const auto& mod : k.modules) CHECK(mod.alpha == 2.0f && mod.rank() == 4);
  for (const auto& mod : p.modules) CHECK(mod.alpha == 2.0f && mod.rank() == 4);  // from lora_adapter_metadata, not r
}

TEST(text_encoder_and_unet_match_reference_at_both_scales_in_both_formats) {
  auto m = load_tiny_sd1();
  for (float scale : {0.7f, 1.0f}) {
    const std::string ref = scale == 1.0f ? "tiny-sd1-lora/ref/lora_s100.safetensors" : "tiny-sd1-lora/ref/lora_s070.safetensors";
    for (const std::string& file : {kKohya, kPeft}) {
      LoraOverlay o = merge_loras(*m, {{fixture(file), scale}});
      CHECK(o.merged_weights == 216 && o.warnings.empty());
      check_modules(*o.model, ref, (file + (scale == 1.0f ? " s1.0" : " s0.7")).c_str() + 14);
    }
  }
}

TEST(two_loras_add_up_and_a_negative_scale_undoes_a_positive_one) {
  auto m = load_tiny_sd1();
  // 0.3 + 0.4 of the same LoRA (two files) = 0.7.
  LoraOverlay o = merge_loras(*m, {{fixture(kKohya), 0.3f}, {fixture(kPeft), 0.4f}});
  check_modules(*o.model, "tiny-sd1-lora/ref/lora_s070.safetensors", "kohya 0.3 + peft 0.4");
  LoraOverlay zero = merge_loras(*m, {{fixture(kKohya), 0.7f}, {fixture(kPeft), -0.7f}});
  const std::string w = "unet.middle_block.1.transformer_blocks.0.attn2.to_q.weight";
  CHECK(rel_err(zero.model->weights.get(w), m->weights.get(w)) < 1e-6);
}

TEST(full_euler_loop_with_lora_matches_reference) {
  auto m = load_tiny_sd1();
  Refs ref = load_refs("tiny-sd1-lora/ref/sample_euler_s070.safetensors");
  GenerateParams p = euler_params(ref);
  p.loras = {{fixture(kKohya), 0.7f}};
  sdtest::NullCallbacks cb;
  LoraOverlay o = merge_loras(*m, p.loras);
  TorchRandomSource rng(p.seed);
  GenerateResult r;
  Tensor latents;
  generate_with(*o.model, p, cb, rng, &r, &latents);
  const double e = rel_err(latents, ref["final_latents"]);
  CHECK_MSG(e <= 1e-3, "final latents rel %.3g", e);
  const Tensor& u8 = ref["image_u8"];
  double mad = 0;
  for (size_t i = 0; i < r.images[0].data.size(); ++i) mad += std::fabs(double(r.images[0].data[i]) - u8.data_as<uint8_t>()[i]);
  mad /= double(r.images[0].data.size());
  CHECK_MSG(mad <= 1.0, "image MAD %.3f", mad);
  std::printf("  euler s0.7: latents rel %.2e, image MAD %.3f\n", e, mad);
}

TEST(generation_without_lora_is_bit_identical_before_and_after_one_with_it) {
  auto m = load_tiny_sd1();
  Refs ref = load_refs("tiny-sd1-lora/ref/sample_euler_s070.safetensors");
  GenerateParams plain = euler_params(ref);
  plain.width = plain.height = 64;
  plain.steps = 2;
  GenerateParams with = plain;
  with.loras = {{fixture(kKohya), 0.7f}};
  const std::string w = "unet.middle_block.1.transformer_blocks.0.attn2.to_q.weight";
  const void* base_ptr = m->weights.get(w).data();
  LoraCache cache;
  sdtest::NullCallbacks cb;
  GenerateResult before, lora1, lora2, after;
  run_generate(*m, plain, cb, &before, &cache);
  run_generate(*m, with, cb, &lora1, &cache);
  run_generate(*m, with, cb, &lora2, &cache);
  run_generate(*m, plain, cb, &after, &cache);
  CHECK(before.images[0].data == after.images[0].data);
  CHECK(before.images[0].data != lora1.images[0].data);
  CHECK(lora1.images[0].data == lora2.images[0].data);
  CHECK(m->weights.get(w).data() == base_ptr && m->weights.get(w).dtype() == DType::F16);
  CHECK(lora1.timings.load_ms > 0);
}

TEST(cache_reuses_the_merge_for_the_same_set_only) {
  auto m = load_tiny_sd1();
  LoraCache cache;
  LoraOverlay a = cache.get(*m, {{fixture(kKohya), 0.7f}});
  LoraOverlay b = cache.get(*m, {{fixture(kKohya), 0.7f}});
  LoraOverlay c = cache.get(*m, {{fixture(kKohya), 0.5f}});
  CHECK(a.model == b.model);
  CHECK(a.model != c.model);
}

TEST(locon_3x3_conv_and_unknown_keys) {
  auto m = load_tiny_sd1();
  iotest::TempDir dir("lora");
  // LoCon on down_blocks.0.resnets.0.conv1 = input_blocks.1.0.in_layers.2 [32, 32, 3, 3]: down [1, 32, 3, 3], up [32, 1, 1, 1].
  const std::string target = "unet.input_blocks.1.0.in_layers.2.weight";
  const Tensor& w = m->weights.get(target);
  CHECK(w.shape() == Shape({32, 32, 3, 3}));
  Tensor down = Tensor::empty(DType::F32, {1, 32, 3, 3}), up = Tensor::empty(DType::F32, {32, 1, 1, 1});
  for (int64_t i = 0; i < down.numel(); ++i) down.data_as<float>()[i] = 0.01f * float(i % 7);
  for (int64_t i = 0; i < up.numel(); ++i) up.data_as<float>()[i] = float(i) - 16.0f;
  Tensor alpha = Tensor::empty(DType::F32, {});
  alpha.data_as<float>()[0] = 0.5f;
  const std::string name = "lora_unet_down_blocks_0_resnets_0_conv1";
  const std::string path = dir.path + "/locon.safetensors";
  iotest::write_file(path, iotest::safetensors_bytes(
                               {iotest::out_tensor(name + ".lora_down.weight", down), iotest::out_tensor(name + ".lora_up.weight", up),
                                iotest::out_tensor(name + ".alpha", alpha), iotest::out_tensor(name + ".dora_scale", up),
                                iotest::out_tensor("lora_unet_not_a_module.lora_down.weight", down),
                                iotest::out_tensor("lora_unet_not_a_module.lora_up.weight", up)}));
  LoraOverlay o = merge_loras(*m, {{path, 2.0f}});
  CHECK(o.merged_weights == 1);
  CHECK(o.warnings.size() == 3);  // DoRA not applied, the dora_scale key, the module that matches nothing
  CHECK(o.warnings.size() == 3 && o.warnings[0].find("DoRA") != std::string::npos &&
        o.warnings[1].find(".dora_scale") != std::string::npos && o.warnings[2].find("lora_unet_not_a_module") != std::string::npos);
  // W'[o, i, y, x] = W + 2.0 * (0.5 / 1) * up[o] * down[i, y, x].
  Tensor base = w.to_f32(), got = o.model->weights.get(target);
  double worst = 0;
  for (int64_t oc = 0; oc < 32; ++oc)
    for (int64_t k = 0; k < 288; ++k) {
      const double want =
          double(base.data_as<float>()[oc * 288 + k]) + 1.0 * double(up.data_as<float>()[oc]) * double(down.data_as<float>()[k]);
      worst = std::max(worst, std::fabs(double(got.data_as<float>()[oc * 288 + k]) - want));
    }
  CHECK_MSG(worst < 1e-5, "LoCon merge off by %.3g", worst);
}

// LyCORIS LoHa: W' = W + scale * alpha / r * (w1_a w1_b) * (w2_a w2_b)
// (element-wise), on a linear (to_q [32, 32]) and a 3x3 conv whose factor
// w1_b is [r, in*3*3]; computed here from the factors directly.
TEST(loha_adds_the_hadamard_product_of_its_factors) {
  auto m = load_tiny_sd1();
  iotest::TempDir dir("loha");
  struct Case {
    const char* module;
    const char* target;
    int64_t out, K;
  };
  const Case cases[] = {{"lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q",
                         "unet.input_blocks.1.1.transformer_blocks.0.attn1.to_q.weight", 32, 32},
                        {"lora_unet_down_blocks_0_resnets_0_conv1", "unet.input_blocks.1.0.in_layers.2.weight", 32, 288}};
  const int64_t r = 3;
  std::vector<iotest::OutTensor> file;
  std::vector<Tensor> f(8);
  for (int c = 0; c < 2; ++c) {
    const Shape shapes[4] = {{cases[c].out, r}, {r, cases[c].K}, {cases[c].out, r}, {r, cases[c].K}};
    const char* names[4] = {".hada_w1_a", ".hada_w1_b", ".hada_w2_a", ".hada_w2_b"};
    for (int k = 0; k < 4; ++k) {
      Tensor& t = f[size_t(c * 4 + k)];
      t = Tensor::empty(DType::F32, shapes[k]);
      for (int64_t i = 0; i < t.numel(); ++i) t.data_as<float>()[i] = 0.1f * float((i * (k + 3) + c) % 11) - 0.5f;
      file.push_back(iotest::out_tensor(cases[c].module + std::string(names[k]), t));
    }
    Tensor alpha = Tensor::empty(DType::F32, {});
    alpha.data_as<float>()[0] = 1.5f;
    file.push_back(iotest::out_tensor(cases[c].module + std::string(".alpha"), alpha));
  }
  const std::string path = dir.path + "/loha.safetensors";
  iotest::write_file(path, iotest::safetensors_bytes(file));
  LoraOverlay o = merge_loras(*m, {{path, 0.8f}});
  CHECK(o.merged_weights == 2 && o.warnings.empty());
  for (int c = 0; c < 2; ++c) {
    const float* a1 = f[size_t(c * 4)].data_as<float>();
    const float* b1 = f[size_t(c * 4 + 1)].data_as<float>();
    const float* a2 = f[size_t(c * 4 + 2)].data_as<float>();
    const float* b2 = f[size_t(c * 4 + 3)].data_as<float>();
    const Tensor base = m->weights.get(cases[c].target).to_f32(), got = o.model->weights.get(cases[c].target);
    const int64_t K = cases[c].K;
    double worst = 0;
    for (int64_t oc = 0; oc < cases[c].out; ++oc)
      for (int64_t k = 0; k < K; ++k) {
        double p1 = 0, p2 = 0;
        for (int64_t i = 0; i < r; ++i) {
          p1 += double(a1[oc * r + i]) * b1[i * K + k];
          p2 += double(a2[oc * r + i]) * b2[i * K + k];
        }
        const double want = base.data_as<float>()[oc * K + k] + 0.8 * 1.5 / double(r) * p1 * p2;
        worst = std::max(worst, std::fabs(double(got.data_as<float>()[oc * K + k]) - want));
      }
    CHECK_MSG(worst < 1e-5, "%s: LoHa merge off by %.3g", cases[c].module, worst);
  }
  // The Tucker forms are refused by name.
  const std::string tucker = dir.path + "/tucker.safetensors";
  iotest::write_file(tucker, iotest::safetensors_bytes({iotest::out_tensor(std::string(cases[0].module) + ".hada_t1", f[0])}));
  bool named = false;
  try {
    merge_loras(*m, {{tucker, 1.0f}});
  } catch (const Error& e) {
    named = e.code() == ErrorCode::LoraFormat && std::string(e.what()).find("Tucker LoHa") != std::string::npos;
  }
  CHECK(named);
}

// LyCORIS LoKr: W' = W + scale * s * kron(w1, w2), s = alpha / r when a
// factor is stored as a low-rank pair (r: its rank), else 1. A linear
// (to_q [32, 32] = kron([4, 2], [8, 16]), w2 as a rank-3 pair, alpha 1.5) and
// a 3x3 conv ([32, 32, 3, 3] = kron([4, 4], [8, 8, 3, 3]), both whole, alpha
// ignored); computed here from the Kronecker product directly.
TEST(lokr_adds_the_kronecker_product_of_its_factors) {
  auto m = load_tiny_sd1();
  iotest::TempDir dir("lokr");
  auto filled = [](const Shape& shape, int seed) {
    Tensor t = Tensor::empty(DType::F32, shape);
    for (int64_t i = 0; i < t.numel(); ++i) t.data_as<float>()[i] = 0.1f * float((i * 7 + seed) % 13) - 0.6f;
    return t;
  };
  const std::string q = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q";
  const std::string conv = "lora_unet_down_blocks_0_resnets_0_conv1";
  const Tensor w1q = filled({4, 2}, 1), w2a = filled({8, 3}, 2), w2b = filled({3, 16}, 3);
  const Tensor w1c = filled({4, 4}, 4), w2c = filled({8, 8, 3, 3}, 5);
  Tensor alpha = Tensor::empty(DType::F32, {});
  alpha.data_as<float>()[0] = 1.5f;
  const std::string path = dir.path + "/lokr.safetensors";
  iotest::write_file(path,
                     iotest::safetensors_bytes({iotest::out_tensor(q + ".lokr_w1", w1q), iotest::out_tensor(q + ".lokr_w2_a", w2a),
                                                iotest::out_tensor(q + ".lokr_w2_b", w2b), iotest::out_tensor(q + ".alpha", alpha),
                                                iotest::out_tensor(conv + ".lokr_w1", w1c), iotest::out_tensor(conv + ".lokr_w2", w2c),
                                                iotest::out_tensor(conv + ".alpha", alpha)}));
  LoraOverlay o = merge_loras(*m, {{path, 0.5f}});
  CHECK(o.merged_weights == 2 && o.warnings.empty());
  // kron(w1 [a, b], w2 [c, D]) at ((i, p), (j, col)) = w1[i, j] * w2[p, col].
  auto check = [&](const char* target, const Tensor& w1, const Tensor& w2, double s) {
    const int64_t a = w1.size(0), b = w1.size(1), c = w2.size(0), D = w2.numel() / c;
    const Tensor base = m->weights.get(target).to_f32(), got = o.model->weights.get(target);
    double worst = 0;
    for (int64_t i = 0; i < a; ++i)
      for (int64_t p = 0; p < c; ++p)
        for (int64_t j = 0; j < b; ++j)
          for (int64_t col = 0; col < D; ++col) {
            const int64_t at = (i * c + p) * (b * D) + j * D + col;
            const double want =
                base.data_as<float>()[at] + 0.5 * s * double(w1.data_as<float>()[i * b + j]) * w2.data_as<float>()[p * D + col];
            worst = std::max(worst, std::fabs(double(got.data_as<float>()[at]) - want));
          }
    CHECK_MSG(worst < 1e-5, "%s: LoKr merge off by %.3g", target, worst);
  };
  Tensor w2q = Tensor::zeros(DType::F32, {8, 16});
  for (int64_t p = 0; p < 8; ++p)
    for (int64_t k = 0; k < 3; ++k)
      for (int64_t col = 0; col < 16; ++col)
        w2q.data_as<float>()[p * 16 + col] += w2a.data_as<float>()[p * 3 + k] * w2b.data_as<float>()[k * 16 + col];
  check("unet.input_blocks.1.1.transformer_blocks.0.attn1.to_q.weight", w1q, w2q, 1.5 / 3.0);
  check("unet.input_blocks.1.0.in_layers.2.weight", w1c, w2c, 1.0);

  // On a q8_0 model: the pair-form module takes a side path, the dense one
  // (whole w2) is merged into a dequantized copy, and a LoCon on that same
  // conv joins the copy instead of keeping a side path of its own.
  auto q8 = load_tiny_sd1("q8_0");
  const std::string locon = dir.path + "/locon.safetensors";
  const Tensor down = filled({1, 32, 3, 3}, 6), up = filled({32, 1, 1, 1}, 7);
  iotest::write_file(locon, iotest::safetensors_bytes(
                                {iotest::out_tensor(conv + ".lora_down.weight", down), iotest::out_tensor(conv + ".lora_up.weight", up)}));
  LoraOverlay oq = merge_loras(*q8, {{path, 0.5f}, {locon, 0.25f}});
  CHECK(oq.merged_weights == 1 && oq.side_paths == 1);
  const std::string target = "unet.input_blocks.1.0.in_layers.2.weight";
  const Tensor got = oq.model->weights.get(target);
  const Tensor deq = LoraOverlay(merge_loras(*q8, {{locon, 0.0f}}, LoraApply::Merge)).model->weights.get(target);
  double worst = 0;
  for (int64_t oc = 0; oc < 32; ++oc)
    for (int64_t col = 0; col < 288; ++col) {
      const int64_t i = oc / 8, p = oc % 8, j = col / 72, rest = col % 72;
      const double want = double(deq.data_as<float>()[oc * 288 + col]) +
                          0.5 * double(w1c.data_as<float>()[i * 4 + j]) * w2c.data_as<float>()[p * 72 + rest] +
                          0.25 * double(up.data_as<float>()[oc]) * down.data_as<float>()[col];
      worst = std::max(worst, std::fabs(double(got.data_as<float>()[oc * 288 + col]) - want));
    }
  CHECK_MSG(worst < 1e-4, "q8_0 LoKr + LoCon merge off by %.3g", worst);
}

// The diffusers training scripts' spellings of a LoRA pair read as the peft
// ones: U-Net .lora.down/.lora.up, text encoder .lora_linear_layer.down/up,
// older attention processors .processor.to_q_lora / to_out_lora.
TEST(diffusers_training_script_names_read_as_peft_pairs) {
  LoraFile peft = read_lora_file(fixture(kPeft));
  std::vector<iotest::OutTensor> renamed;
  for (const LoraModule& mod : peft.modules) {
    std::string base = mod.name;
    std::string down = base + ".lora.down.weight", up = base + ".lora.up.weight";
    if (starts_with(base, "text_encoder.")) {
      down = base + ".lora_linear_layer.down.weight";
      up = base + ".lora_linear_layer.up.weight";
    } else if (ends_with(base, ".to_q") || ends_with(base, ".to_out.0")) {
      const std::string proj = ends_with(base, ".to_q") ? "to_q" : "to_out";
      const std::string attn = base.substr(0, base.rfind(proj) - 1);
      down = attn + ".processor." + proj + "_lora.down.weight";
      up = attn + ".processor." + proj + "_lora.up.weight";
    }
    renamed.push_back(iotest::out_tensor(down, mod.down));
    renamed.push_back(iotest::out_tensor(up, mod.up));
    Tensor alpha = Tensor::empty(DType::F32, {});
    alpha.data_as<float>()[0] = mod.alpha;
    renamed.push_back(iotest::out_tensor(base + ".alpha", alpha));
  }
  iotest::TempDir dir("lora-names");
  iotest::write_file(dir.path + "/trainscript.safetensors", iotest::safetensors_bytes(renamed));
  LoraFile back = read_lora_file(dir.path + "/trainscript.safetensors");
  CHECK(back.modules.size() == peft.modules.size() && back.unknown_keys.empty());
  for (size_t i = 0; i < peft.modules.size() && i < back.modules.size(); ++i)
    CHECK_MSG(back.modules[i].name == peft.modules[i].name && back.modules[i].alpha == peft.modules[i].alpha, "%s vs %s",
              back.modules[i].name.c_str(), peft.modules[i].name.c_str());
}

TEST(bad_files_get_typed_errors) {
  auto m = load_tiny_sd1();
  iotest::TempDir dir("lora-bad");
  // A checkpoint is not a LoRA.
  CHECK_THROWS_CODE(merge_loras(*m, {{fixture("tiny-sd1/tiny-sd1.safetensors"), 1.0f}}), ErrorCode::LoraFormat);
  CHECK_THROWS_CODE(merge_loras(*m, {{dir.path + "/missing.safetensors", 1.0f}}), ErrorCode::ModelNotFound);
  Tensor down = Tensor::zeros(DType::F32, {4, 32}), up = Tensor::zeros(DType::F32, {32, 4}), wrong = Tensor::zeros(DType::F32, {32, 3});
  const std::string q = "lora_unet_mid_block_attentions_0_transformer_blocks_0_attn1_to_q";
  const std::string only_down = dir.path + "/only_down.safetensors";
  iotest::write_file(only_down, iotest::safetensors_bytes({iotest::out_tensor(q + ".lora_down.weight", down)}));
  CHECK_THROWS_CODE(merge_loras(*m, {{only_down, 1.0f}}), ErrorCode::LoraFormat);
  const std::string rank_mismatch = dir.path + "/rank.safetensors";
  iotest::write_file(rank_mismatch, iotest::safetensors_bytes({iotest::out_tensor(q + ".lora_down.weight", down),
                                                               iotest::out_tensor(q + ".lora_up.weight", wrong)}));
  CHECK_THROWS_CODE(merge_loras(*m, {{rank_mismatch, 1.0f}}), ErrorCode::LoraFormat);
  // Right names, another model's width (to_q is [64, 64] in the mid block).
  const std::string other = dir.path + "/other.safetensors";
  iotest::write_file(
      other, iotest::safetensors_bytes({iotest::out_tensor(q + ".lora_down.weight", down), iotest::out_tensor(q + ".lora_up.weight", up)}));
  CHECK_THROWS_CODE(merge_loras(*m, {{other, 1.0f}}), ErrorCode::LoraFormat);
  // No module of the file exists in the model.
  const std::string none = dir.path + "/none.safetensors";
  iotest::write_file(none, iotest::safetensors_bytes({iotest::out_tensor("lora_unet_nothing_here.lora_down.weight", down),
                                                      iotest::out_tensor("lora_unet_nothing_here.lora_up.weight", up)}));
  CHECK_THROWS_CODE(merge_loras(*m, {{none, 1.0f}}), ErrorCode::LoraFormat);
}

// The merge mode on a quantized model: the reference of the run-time side
// paths (test_lora_quant.cpp), here checked against the f32 reference.
TEST(lora_on_a_q8_0_model_merges_into_dequantized_weights) {
  auto q = load_tiny_sd1("q8_0");
  const std::string w = "unet.middle_block.1.transformer_blocks.0.attn2.to_q.weight";
  CHECK(q->weights.get(w).dtype() == DType::Q8_0);
  LoraOverlay o = merge_loras(*q, {{fixture(kKohya), 0.7f}}, LoraApply::Merge);
  CHECK(o.model->weights.get(w).dtype() == DType::F32);
  CHECK(q->weights.get(w).dtype() == DType::Q8_0);  // the quantized base is untouched
  Refs ref = load_refs("tiny-sd1-lora/ref/lora_s070.safetensors");
  Compute c;
  Tensor out = UNet::bind(*o.model).forward(c, ref["unet.sample"], ref["unet.timestep"], ref["unet.encoder_hidden_states"]);
  Tensor base = UNet::bind(*q).forward(c, ref["unet.sample"], ref["unet.timestep"], ref["unet.encoder_hidden_states"]);
  const double e = rel_err(out, ref["unet.out"]), moved = rel_err(base, ref["unet.out"]);
  // q8_0 rounding of the base weights bounds the agreement; without the LoRA it is far off.
  CHECK_MSG(e < 5e-2 && moved > 10 * e, "q8_0 + LoRA rel %.3g, q8_0 without LoRA rel %.3g", e, moved);
  std::printf("  q8_0 + LoRA unet rel %.2e (q8_0 without LoRA %.2e)\n", e, moved);
}

// The inverse mapping (LDM -> diffusers module path) against the loader's
// forward mapping (io/name_map.h) for every U-Net weight of each family, and
// the text-encoder spellings of SDXL's two encoders.
TEST(every_diffusers_unet_weight_round_trips_for_sd1_sd2_sdxl) {
  for (const char* family : {"tiny-sd1", "tiny-sd2", "tiny-sdxl"}) {
    const std::string dir = fixture(std::string(family) + "/diffusers");
    auto m = load_model(dir, {});
    LoraTargets targets = lora_targets(*m);
    ModelWeights forward;
    NamedTensors unet;
    for (auto& [name, t] : read_safetensors(dir + "/unet/diffusion_pytorch_model.safetensors").tensors) unet.emplace_back(name, t);
    map_diffusers_unet(unet, -1, &forward);
    int checked = 0, bad = 0;
    for (const auto& [name, t] : unet) {
      if (name.size() < 7 || name.compare(name.size() - 7, 7, ".weight") != 0 || t.dim() < 2) continue;
      const std::string module = name.substr(0, name.size() - 7);
      // The forward map of this one tensor: find the canonical name whose tensor is this view.
      std::string want;
      for (const auto& [canon, ct] : forward.all())
        if (ct.data() == t.data() && ct.numel() == t.numel()) want = canon;
      auto it = targets.find("unet." + module);
      if (it == targets.end() || it->second != want) {
        if (bad++ < 3)
          std::printf("  %s: unet.%s -> %s, want %s\n", family, module.c_str(), it == targets.end() ? "(none)" : it->second.c_str(),
                      want.c_str());
      }
      std::string kohya = "lora_unet_" + module;
      for (char& ch : kohya) ch = ch == '.' ? '_' : ch;
      CHECK(targets.count(kohya) && targets[kohya] == want);
      ++checked;
    }
    CHECK_MSG(bad == 0, "%s: %d of %d U-Net modules map differently", family, bad, checked);
    std::printf("  %s: %d U-Net modules round-trip\n", family, checked);
  }
  auto xl = load_model(fixture("tiny-sdxl/diffusers"), {});
  LoraTargets t = lora_targets(*xl);
  CHECK(t["lora_te1_text_model_encoder_layers_0_self_attn_q_proj"] == "te1.text_model.encoder.layers.0.self_attn.q_proj.weight");
  CHECK(t["lora_te2_text_model_encoder_layers_1_mlp_fc2"] == "te2.text_model.encoder.layers.1.mlp.fc2.weight");
  CHECK(t["text_encoder_2.text_model.encoder.layers.1.mlp.fc2"] == "te2.text_model.encoder.layers.1.mlp.fc2.weight");
  CHECK(t.count("lora_te_text_model_encoder_layers_0_self_attn_q_proj") == 0);  // SDXL files say te1/te2
}
