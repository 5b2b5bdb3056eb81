// Model loading end to end on the tiny fixtures: every form loads with the
// right family, and the single-file and diffusers forms of one model give the
// same canonical tensors with the same values.
#define SD_TEST_MAIN
#include <cmath>
#include <cstring>
#include <filesystem>
#include <string>

#include "core/error.h"
#include "harness.h"
#include "io/file_path.h"
#include "io/json.h"
#include "io/model_loader.h"
#include "io/name_map.h"
#include "io/safetensors.h"
#include "pipeline/prediction_probe.h"
#include "quant/convert_model.h"
#include "test_io_util.h"
#include "util/strings.h"

using namespace sd;

static std::unique_ptr<LoadedModel> load(const std::string& path, const std::string& config = "") {
  LoadOptions o;
  o.config_path = config;
  return load_model(path, o);
}

// Same names, dtypes, shapes and values (bit-exact).
static void check_same_weights(const LoadedModel& a, const LoadedModel& b) {
  const auto& wa = a.weights.all();
  const auto& wb = b.weights.all();
  CHECK_MSG(wa.size() == wb.size(), "%zu vs %zu tensors", wa.size(), wb.size());
  for (const auto& [name, t] : wa) {
    const Tensor* u = b.weights.find(name);
    CHECK_MSG(u != nullptr, "%s missing from the second form", name.c_str());
    if (!u) continue;
    CHECK_MSG(t.dtype() == u->dtype(), "%s: %s vs %s", name.c_str(), dtype_name(t.dtype()), dtype_name(u->dtype()));
    CHECK_MSG(t.shape() == u->shape(), "%s: %s vs %s", name.c_str(), shape_str(t.shape()).c_str(), shape_str(u->shape()).c_str());
    if (t.shape() != u->shape()) continue;
    Tensor fa = t.to_f32(), fb = u->to_f32();
    CHECK_MSG(std::memcmp(fa.data(), fb.data(), static_cast<size_t>(fa.nbytes())) == 0, "%s values differ", name.c_str());
  }
}

static int64_t config_int(const LoadedModel& m, const std::string& comp, const std::string& key) {
  Json j = Json::parse(m.configs.at(comp));
  int64_t v = -1;
  const Json* f = j.find(key);
  if (f) f->as_int64(&v);
  return v;
}

TEST(tiny_sd1_single_file) {
  auto m = load(sdtest::fixture("tiny-sd1/tiny-sd1.safetensors"));
  CHECK(m->info.family == "sd1");
  CHECK(m->info.format == "safetensors");
  CHECK(m->info.prediction == "epsilon");
  CHECK(!m->info.inpaint);
  CHECK(m->weights.all().size() == 996);
  CHECK(m->info.components.at("unet").dtype == "f16");
  CHECK(m->info.components.size() == 3);
  // Standard SD values without a config folder.
  CHECK(config_int(*m, "unet", "norm_num_groups") == 32);
  CHECK(config_int(*m, "unet", "layers_per_block") == 2);
  // Zero-copy: the reshaped VAE attention weight and the U-Net share the mapping.
  const Tensor& q = m->weights.get("vae.decoder.mid.attn_1.q.weight");
  CHECK(q.shape() == Shape({64, 64, 1, 1}));
  CHECK(q.owner().get() == m->weights.get("unet.input_blocks.0.0.weight").owner().get());
}

TEST(tiny_sd1_folder_equals_single_file) {
  auto folder = load(sdtest::fixture("tiny-sd1/diffusers"));
  auto single = load(sdtest::fixture("tiny-sd1/tiny-sd1.safetensors"), sdtest::fixture("tiny-sd1/diffusers"));
  CHECK(folder->info.family == "sd1");
  CHECK(folder->info.format == "diffusers");
  CHECK(folder->info.prediction == "epsilon");
  CHECK(!folder->tokenizer_dir.empty());
  CHECK(folder->info.file_size > 0);
  CHECK(folder->info.parameter_count == single->info.parameter_count);
  check_same_weights(*folder, *single);
  // config_path supplies the tiny model's 8 groups.
  CHECK(config_int(*single, "unet", "norm_num_groups") == 8);
  CHECK(config_int(*folder, "vae", "norm_num_groups") == 8);
}

TEST(tiny_sdxl_folder_equals_single_file) {
  auto folder = load(sdtest::fixture("tiny-sdxl/diffusers"));
  auto single = load(sdtest::fixture("tiny-sdxl/tiny-sdxl.safetensors"));
  CHECK(folder->info.family == "sdxl");
  CHECK(single->info.family == "sdxl");
  CHECK(folder->info.components.count("te2") == 1);
  // The single file stores OpenCLIP's text_projection as [in, out]; the
  // comparison is only exact if it was transposed to HF [out, in].
  check_same_weights(*folder, *single);
  CHECK(config_int(*single, "unet", "projection_class_embeddings_input_dim") == 72);
}

TEST(tiny_sd2_folder) {
  auto m = load(sdtest::fixture("tiny-sd2/diffusers"));
  CHECK(m->info.family == "sd2");
  CHECK(m->info.prediction == "v");
}

TEST(tiny_sd1_inpaint_both_forms) {
  auto folder = load(sdtest::fixture("tiny-sd1-inpaint/diffusers"));
  auto single = load(sdtest::fixture("tiny-sd1-inpaint/tiny-sd1-inpaint.safetensors"));
  CHECK(folder->info.inpaint && single->info.inpaint);
  CHECK(folder->info.family == "sd1" && single->info.family == "sd1");
  check_same_weights(*folder, *single);
}

// SD2 single files are not shipped; build one from the diffusers folder the
// way the original checkpoints store it (iotest::sd2_single_file) and check
// it loads to exactly the folder's tensors, the extra layer, text_projection
// and logit_scale carried aside.
TEST(sd2_openclip_single_file_equals_folder) {
  auto folder = load(sdtest::fixture("tiny-sd2/diffusers"));
  const std::vector<iotest::OutTensor> out = iotest::sd2_single_file(*folder);
  iotest::TempDir dir("sd2");
  iotest::write_file(dir.file("tiny-sd2.safetensors"), iotest::safetensors_bytes(out));

  auto single = load(dir.file("tiny-sd2.safetensors"), sdtest::fixture("tiny-sd2/diffusers"));
  CHECK(single->info.family == "sd2");
  CHECK(single->info.prediction == "v");
  check_same_weights(*folder, *single);
  CHECK(folder->carried.empty());
  CHECK(single->carried.size() == 14);  // the 12 tensors of layer 3, text_projection, logit_scale
  CHECK(single->carried.count("cond_stage_model.model.transformer.resblocks.3.attn.in_proj_weight") == 1);
  CHECK(single->carried.count("cond_stage_model.model.logit_scale") == 1);
  // Without the config folder SD2 still defaults to v-prediction.
  CHECK(load(dir.file("tiny-sd2.safetensors"))->info.prediction == "v");
}

// What conversion scripts leave in OpenCLIP weights: a position_ids buffer
// (skipped) and SDXL's text_projection already as a Linear `.weight`
// [out, in] (taken as is). A tensor nothing knows is refused, naming the file.
TEST(openclip_weights_as_conversion_scripts_leave_them) {
  auto folder = load(sdtest::fixture("tiny-sd2/diffusers"));
  std::vector<iotest::OutTensor> sd2 = iotest::sd2_single_file(*folder);
  Tensor ids = Tensor::empty(DType::I64, {1, 77});
  for (int64_t i = 0; i < 77; ++i) ids.data_as<int64_t>()[i] = i;
  sd2.push_back(iotest::out_tensor("cond_stage_model.model.transformer.text_model.embeddings.position_ids", ids));
  iotest::TempDir dir("oc");
  iotest::write_file(dir.file("sd2.safetensors"), iotest::safetensors_bytes(sd2));
  check_same_weights(*folder, *load(dir.file("sd2.safetensors"), sdtest::fixture("tiny-sd2/diffusers")));

  auto xl = load(sdtest::fixture("tiny-sdxl/tiny-sdxl.safetensors"));
  std::vector<iotest::OutTensor> renamed;
  for (const auto& [name, t] : read_safetensors(sdtest::fixture("tiny-sdxl/tiny-sdxl.safetensors")).tensors) {
    if (name == "conditioner.embedders.1.model.text_projection")
      renamed.push_back(iotest::out_tensor(name + ".weight", *xl->weights.find("te2.text_projection.weight")));
    else
      renamed.push_back(iotest::out_tensor(name, t));
  }
  iotest::write_file(dir.file("xl.safetensors"), iotest::safetensors_bytes(renamed));
  check_same_weights(*xl, *load(dir.file("xl.safetensors")));

  sd2.push_back(iotest::out_tensor("cond_stage_model.model.transformer.resblocks.0.attn.mystery", ids));
  iotest::write_file(dir.file("odd.safetensors"), iotest::safetensors_bytes(sd2));
  bool named = false;
  try {
    load(dir.file("odd.safetensors"));
  } catch (const Error& e) {
    named = e.code() == ErrorCode::ModelUnsupported && std::string(e.what()).find(dir.file("odd.safetensors")) == 0 &&
            std::string(e.what()).find("attn.mystery") != std::string::npos;
  }
  CHECK(named);
}

// SD 2.x with nothing saying its prediction type: the U-Net decides. With
// a zeroed output conv whose bias is b, the probe's mean(out - 0.5) is
// b - 0.5: v below -1 (b = -0.6), epsilon above (b = -0.4, 0). A folder's
// scheduler config is never second-guessed.
TEST(sd2_prediction_is_probed_when_nothing_says) {
  auto folder = load(sdtest::fixture("tiny-sd2/diffusers"));
  CHECK(!folder->info.prediction_guessed);
  iotest::TempDir dir("probe");
  iotest::write_file(dir.file("sd2.safetensors"), iotest::safetensors_bytes(iotest::sd2_single_file(*folder)));
  for (const auto& [bias, expected] : {std::pair<float, const char*>{-0.6f, "v"}, {-0.4f, "epsilon"}, {0.0f, "epsilon"}}) {
    auto m = load(dir.file("sd2.safetensors"));
    CHECK(m->info.prediction == "v" && m->info.prediction_guessed);
    const Tensor& w = m->weights.get("unet.out.2.weight");
    m->weights.set("unet.out.2.weight", Tensor::zeros(DType::F32, w.shape()));
    Tensor b = Tensor::empty(DType::F32, {w.size(0)});
    for (int64_t i = 0; i < b.numel(); ++i) b.data_as<float>()[i] = bias;
    m->weights.set("unet.out.2.bias", b);
    CHECK(std::abs(sd2_v_probe(*m) - (double(bias) - 0.5)) < 1e-6);
    settle_prediction(m.get());
    CHECK_MSG(m->info.prediction == expected && !m->info.prediction_guessed, "bias %g: %s", double(bias), m->info.prediction.c_str());
  }
  auto with_config = load(dir.file("sd2.safetensors"), sdtest::fixture("tiny-sd2/diffusers"));
  with_config->weights.set("unet.out.2.bias", Tensor::zeros(DType::F32, {4}));
  settle_prediction(with_config.get());
  CHECK(with_config->info.prediction == "v");
}

// Real SD 2.x files: ViT-H/14's text tower is 24 layers of width 1024 and SD 2.x
// runs 23. Files exported from diffusers already stop at 23, and all of those run.
TEST(sd2_runs_the_penultimate_layer_of_the_full_tower) {
  CHECK(sd2_text_layers_to_run(1024, 24) == 23);
  CHECK(sd2_text_layers_to_run(1024, 23) == 23);
  CHECK(sd2_text_layers_to_run(16, 4) == 3);  // the tiny fixture's single file: one layer over its folder's 3
  CHECK(sd2_text_layers_to_run(1024, 12) == 11);
}

// stable-diffusion.cpp's converter writes OpenCLIP encoders under Hugging
// Face names: SDXL's bigG as cond_stage_model.1.transformer.text_model.*
// (q/k/v split, text_projection kept in OpenCLIP's [in, out] layout), CLIP-L
// as cond_stage_model.transformer.*, the U-Net's linear proj_in / proj_out
// as 1x1 convs; or q/k/v fused as self_attn.in_proj.*. Such files load to
// the same values.
TEST(sdxl_as_stable_diffusion_cpp_names_it) {
  auto xl = load(sdtest::fixture("tiny-sdxl/tiny-sdxl.safetensors"));
  std::vector<iotest::OutTensor> out;
  for (const auto& [name, t] : xl->weights.all()) {
    if (starts_with(name, "unet.")) {
      const bool proj = ends_with(name, "proj_in.weight") || ends_with(name, "proj_out.weight");
      out.push_back(iotest::out_tensor("model.diffusion_model." + name.substr(5), proj ? t.reshape({t.size(0), t.size(1), 1, 1}) : t));
    } else if (starts_with(name, "vae.")) {
      out.push_back(iotest::out_tensor("first_stage_model." + name.substr(4), t));
    } else if (name == "te2.text_projection.weight") {
      Tensor f = t.to_f32(), tr = Tensor::empty(DType::F32, {t.size(1), t.size(0)});  // back to [in, out]
      for (int64_t r = 0; r < t.size(0); ++r)
        for (int64_t c = 0; c < t.size(1); ++c) tr.data_as<float>()[c * t.size(0) + r] = f.data_as<float>()[r * t.size(1) + c];
      out.push_back(iotest::out_tensor("cond_stage_model.1.transformer.text_model.text_projection", tr));
    } else if (starts_with(name, "te2.")) {
      out.push_back(iotest::out_tensor("cond_stage_model.1.transformer." + name.substr(4), t));
    } else if (starts_with(name, "te1.")) {
      out.push_back(iotest::out_tensor("cond_stage_model.transformer." + name.substr(4), t));
    }
  }
  iotest::TempDir dir("sdcpp");
  // Newer sd.cpp (--convert-name) keeps q/k/v fused as self_attn.in_proj.*.
  std::vector<iotest::OutTensor> fused;
  for (const auto& o : out) {
    const size_t q = o.name.find("self_attn.q_proj.");
    const bool big_g = starts_with(o.name, "cond_stage_model.1.");
    if (big_g && (o.name.find("self_attn.k_proj.") != std::string::npos || o.name.find("self_attn.v_proj.") != std::string::npos)) continue;
    if (q == std::string::npos || !big_g) {
      fused.push_back(o);
      continue;
    }
    iotest::OutTensor f = o;
    f.name = o.name.substr(0, q) + "self_attn.in_proj." + o.name.substr(q + 17);
    for (const char* part : {"k_proj.", "v_proj."}) {
      const std::string other = o.name.substr(0, q) + "self_attn." + part + o.name.substr(q + 17);
      for (const auto& x : out)
        if (x.name == other) f.bytes += x.bytes;
    }
    f.shape[0] *= 3;
    fused.push_back(f);
  }
  for (const auto& layout : {out, fused}) {
    iotest::write_file(dir.file("xl.safetensors"), iotest::safetensors_bytes(layout));
    auto back = load(dir.file("xl.safetensors"));
    CHECK(back->info.family == "sdxl");
    CHECK(back->weights.all().size() == xl->weights.all().size());
    for (const auto& [name, t] : xl->weights.all()) {
      const Tensor* u = back->weights.find(name);
      const Tensor a = t.to_f32();
      const bool same = u && u->numel() == t.numel() && std::memcmp(u->to_f32().data(), a.data(), size_t(a.nbytes())) == 0;
      CHECK_MSG(same, "%s", name.c_str());
    }
  }
}

// A diffusers folder's components in one file under unet. / vae. / te. /
// te.1. (stable-diffusion.cpp's GGUF of a diffusers folder, names as read)
// loads to the folder's weights.
TEST(diffusers_components_in_one_file) {
  for (const char* fixture : {"tiny-sd1/diffusers", "tiny-sdxl/diffusers"}) {
    const std::string folder = sdtest::fixture(fixture);
    std::vector<iotest::OutTensor> out;
    const std::pair<const char*, const char*> parts[] = {{"unet/diffusion_pytorch_model.safetensors", "unet."},
                                                         {"vae/diffusion_pytorch_model.safetensors", "vae."},
                                                         {"text_encoder/model.safetensors", "te."},
                                                         {"text_encoder_2/model.safetensors", "te.1."}};
    for (const auto& [file, prefix] : parts) {
      if (!std::filesystem::exists(folder + "/" + file)) continue;
      for (const auto& [name, t] : read_safetensors(folder + "/" + file).tensors) out.push_back(iotest::out_tensor(prefix + name, t));
    }
    iotest::TempDir dir("onefile");
    iotest::write_file(dir.file("m.safetensors"), iotest::safetensors_bytes(out));
    check_same_weights(*load(folder), *load(dir.file("m.safetensors")));
  }
}

// An SD 2.x ViT-H (width 1024) under Hugging Face names, all 24 layers (as
// stable-diffusion.cpp writes it): the last layer is not mapped, so the
// penultimate one conditions, as from OpenCLIP names.
TEST(hf_named_vit_h_runs_its_penultimate_layer) {
  NamedTensors te;
  te.emplace_back("cond_stage_model.transformer.text_model.embeddings.token_embedding.weight", Tensor::zeros(DType::F32, {2, 1024}));
  for (int l = 0; l < 24; ++l)
    te.emplace_back("cond_stage_model.transformer.text_model.encoder.layers." + std::to_string(l) + ".mlp.fc1.bias",
                    Tensor::zeros(DType::F32, {4}));
  te.emplace_back("cond_stage_model.transformer.text_model.text_projection", Tensor::zeros(DType::F32, {1024, 1024}));
  ModelWeights w;
  map_single_file(te, &w);
  CHECK(w.has("te1.text_model.encoder.layers.22.mlp.fc1.bias"));
  CHECK(!w.has("te1.text_model.encoder.layers.23.mlp.fc1.bias"));
  CHECK(!w.has("te1.text_projection.weight"));
}

TEST(config_path_must_be_a_folder) {
  CHECK_THROWS_CODE(load(sdtest::fixture("tiny-sd1/tiny-sd1.safetensors"), sdtest::fixture("tiny-sd1/README.md")),
                    ErrorCode::InvalidOption);
}

TEST(overlay_model_shares_tensors_and_leaves_the_base_alone) {
  auto base = load(sdtest::fixture("tiny-sd1/diffusers"));
  auto overlay = overlay_model(*base);
  CHECK(overlay->info.family == base->info.family && overlay->info.path == base->info.path);
  CHECK(overlay->configs == base->configs && overlay->tokenizer_dir == base->tokenizer_dir);
  CHECK(overlay->weights.all().size() == base->weights.all().size());
  for (const auto& [name, t] : base->weights.all()) CHECK_MSG(overlay->weights.get(name).data() == t.data(), "%s copied", name.c_str());
  const std::string name = "unet.out.2.bias";
  overlay->weights.set(name, Tensor::zeros(DType::F32, base->weights.get(name).shape()));
  overlay->weights.set("te1.text_model.embeddings.token_embedding.extra", Tensor::zeros(DType::F32, {1, 32}));
  CHECK(overlay->weights.get(name).data() != base->weights.get(name).data());
  CHECK(!base->weights.has("te1.text_model.embeddings.token_embedding.extra"));
}

// Paths are UTF-8 (as JavaScript passes them). On Windows the file APIs take
// them through the wide-character calls: a folder name no ANSI code page can
// spell must still load, as a single file and as a diffusers folder, and a
// converted GGUF must be writable there (scripts/windows-tests.mjs runs this
// under Wine).
TEST(non_ascii_paths_load) {
  iotest::TempDir dir("utf8");
  const std::string folder = dir.file("\xD0\x9C\xD0\xBE\xD0\xB4\xD0\xB5\xD0\xBB\xD1\x8C \xE6\xA8\xA1\xE5\x9E\x8B");  // "Модель 模型"
  std::filesystem::create_directories(fs_path(folder));
  const std::string file = folder + "/tiny \xE2\x98\x83.safetensors";  // "tiny ☃.safetensors"
  std::filesystem::copy_file(fs_path(sdtest::fixture("tiny-sd1/tiny-sd1.safetensors")), fs_path(file));
  auto single = load(file, sdtest::fixture("tiny-sd1/diffusers"));
  CHECK(single->info.family == "sd1");
  const std::string diffusers = folder + "/diffusers";
  iotest::copy_tree(sdtest::fixture("tiny-sd1/diffusers"), diffusers);
  auto from_folder = load(diffusers);
  check_same_weights(*single, *from_folder);
  CHECK(!from_folder->tokenizer_dir.empty() && std::filesystem::is_directory(fs_path(from_folder->tokenizer_dir)));
  CHECK_THROWS_CODE(load(folder + "/missing \xE2\x98\x83.safetensors"), ErrorCode::ModelNotFound);
  const std::string gguf = folder + "/tiny \xE2\x98\x83.gguf";
  quant::convert_to_gguf(file, gguf, "f16");
  auto converted = load(gguf, sdtest::fixture("tiny-sd1/diffusers"));
  CHECK(converted->info.format == "gguf" && converted->weights.all().size() == single->weights.all().size());
}
