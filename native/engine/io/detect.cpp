#include "io/detect.h"

#include <map>
#include <stdexcept>

#include "core/error.h"
#include "io/json.h"
#include "util/strings.h"

namespace sd {

namespace {

// -1 in `expected` matches any size.
void expect_shape(const ModelWeights& w, const std::string& name, const Shape& expected) {
  const Tensor& t = w.get(name);
  bool ok = t.dim() == static_cast<int>(expected.size());
  for (size_t i = 0; ok && i < expected.size(); ++i) ok = expected[i] < 0 || expected[i] == t.shape()[i];
  if (!ok) {
    std::string exp = "[";
    for (size_t i = 0; i < expected.size(); ++i)
      exp += (i ? ", " : "") + (expected[i] < 0 ? std::string("*") : std::to_string(expected[i]));
    fail(ErrorCode::ModelFormat, "weight \"" + name + "\" has shape " + shape_str(t.shape()) + "; expected " + exp + "]");
  }
}

bool has_prefix(const ModelWeights& w, const std::string& prefix) {
  auto it = w.all().lower_bound(prefix);
  return it != w.all().end() && it->first.compare(0, prefix.size(), prefix) == 0;
}

std::string config_string(const LoadedModel& m, const std::string& component, const std::string& key) {
  auto it = m.configs.find(component);
  if (it == m.configs.end()) return {};
  try {
    Json j = Json::parse(it->second);
    const Json* v = j.find(key);
    return v && v->is_string() ? v->as_string() : std::string();
  } catch (const std::invalid_argument&) {
    return {};
  }
}

// Checks a CLIP text encoder's shapes; returns its hidden size.
int64_t check_text_encoder(const ModelWeights& w, const std::string& p) {
  const std::string tm = p + ".text_model.";
  const Tensor& tok = w.get(tm + "embeddings.token_embedding.weight");
  if (tok.dim() != 2) expect_shape(w, tm + "embeddings.token_embedding.weight", {-1, -1});
  const int64_t h = tok.size(1);
  expect_shape(w, tm + "embeddings.position_embedding.weight", {-1, h});
  expect_shape(w, tm + "final_layer_norm.weight", {h});
  int layers = 0;
  for (;; ++layers) {
    const std::string l = tm + "encoder.layers." + std::to_string(layers) + ".";
    if (!w.has(l + "self_attn.q_proj.weight")) break;
    for (const char* proj : {"q_proj", "k_proj", "v_proj", "out_proj"}) expect_shape(w, l + "self_attn." + proj + ".weight", {h, h});
    const Tensor& fc1 = w.get(l + "mlp.fc1.weight");
    expect_shape(w, l + "mlp.fc1.weight", {-1, h});
    expect_shape(w, l + "mlp.fc2.weight", {h, fc1.size(0)});
    expect_shape(w, l + "layer_norm1.weight", {h});
    expect_shape(w, l + "layer_norm2.weight", {h});
  }
  if (layers == 0)
    fail(ErrorCode::ModelFormat, p + ": text encoder has no layers (missing \"" + tm + "encoder.layers.0.self_attn.q_proj.weight\")");
  return h;
}

std::string dominant_dtype(const std::map<DType, int64_t>& counts) {
  DType best = DType::F32;
  int64_t n = -1;
  for (const auto& [dt, c] : counts)
    if (c > n) {
      best = dt;
      n = c;
    }
  return dtype_name(best);
}

}  // namespace

void detect_model(LoadedModel* model, const DetectHints& hints) {
  const ModelWeights& w = model->weights;
  ModelInfo& info = model->info;

  // Per-component parameter counts and dominant dtypes.
  std::map<std::string, std::map<DType, int64_t>> dtypes;
  info.parameter_count = 0;
  for (const auto& [name, t] : w.all()) {
    // Weights are float or block-quantized and never empty.
    if (!dtype_is_float(t.dtype()) && !dtype_is_quantized(t.dtype()))
      fail(ErrorCode::ModelFormat, info.path + ": weight \"" + name + "\" has dtype " + dtype_name(t.dtype()) + "; expected a float type");
    if (t.numel() == 0) fail(ErrorCode::ModelFormat, info.path + ": weight \"" + name + "\" is empty (shape " + shape_str(t.shape()) + ")");
    std::string comp = name.substr(0, name.find('.'));
    info.components[comp].parameter_count += t.numel();
    dtypes[comp][t.dtype()] += t.numel();
    info.parameter_count += t.numel();
  }
  for (auto& [comp, c] : info.components) c.dtype = dominant_dtype(dtypes[comp]);

  const bool has_unet = has_prefix(w, "unet."), has_vae = has_prefix(w, "vae."), has_te1 = has_prefix(w, "te1."),
             has_te2 = has_prefix(w, "te2.");
  std::string found;
  for (const auto& [comp, c] : info.components)
    found += (found.empty() ? "" : ", ") + comp + " (" + std::to_string(c.parameter_count) + " parameters)";
  if (found.empty()) found = "no Stable Diffusion weights at all";
  if (!has_unet || !w.has("unet.input_blocks.0.0.weight"))
    fail(ErrorCode::ModelUnsupported, info.path + ": no Stable Diffusion U-Net found; the file holds " + found);
  if (!has_vae) fail(ErrorCode::ModelUnsupported, info.path + ": no VAE found (found " + found + ")");
  if (!has_te1) fail(ErrorCode::ModelUnsupported, info.path + ": no CLIP text encoder found (found " + found + ")");

  const bool sdxl = w.has("unet.label_emb.0.0.weight");
  if (sdxl && !has_te2)
    fail(ErrorCode::ModelUnsupported, info.path + ": an SDXL-style U-Net with a single text encoder (an SDXL refiner?) is not supported");
  if (!sdxl && has_te2) fail(ErrorCode::ModelUnsupported, info.path + ": two text encoders but no SDXL label_emb in the U-Net");

  // VAE: z latent channels.
  const Tensor& pqc = w.get("vae.post_quant_conv.weight");
  const int64_t z = pqc.dim() == 4 ? pqc.size(0) : -1;
  expect_shape(w, "vae.post_quant_conv.weight", {z, z, 1, 1});
  expect_shape(w, "vae.quant_conv.weight", {2 * z, 2 * z, 1, 1});
  expect_shape(w, "vae.decoder.conv_in.weight", {-1, z, 3, 3});
  expect_shape(w, "vae.encoder.conv_out.weight", {2 * z, -1, 3, 3});
  expect_shape(w, "vae.encoder.conv_in.weight", {-1, 3, 3, 3});
  expect_shape(w, "vae.decoder.conv_out.weight", {3, -1, 3, 3});

  // U-Net: conv_in [C0, Cin, 3, 3]; Cin = z (txt2img) or 2z+1 (inpainting).
  const Tensor& cin_w = w.get("unet.input_blocks.0.0.weight");
  expect_shape(w, "unet.input_blocks.0.0.weight", {-1, -1, 3, 3});
  const int64_t c0 = cin_w.size(0), cin = cin_w.size(1);
  if (cin != z && cin != 2 * z + 1)
    fail(ErrorCode::ModelUnsupported, info.path + ": U-Net takes " + std::to_string(cin) + " input channels (" + std::to_string(z) +
                                          " = txt2img and " + std::to_string(2 * z + 1) +
                                          " = inpainting are supported; depth/instruct models are not)");
  info.inpaint = cin == 2 * z + 1;
  expect_shape(w, "unet.out.2.weight", {z, c0, 3, 3});
  const int64_t temb = w.get("unet.time_embed.0.weight").dim() == 2 ? w.get("unet.time_embed.0.weight").size(0) : -1;
  expect_shape(w, "unet.time_embed.0.weight", {temb, c0});
  expect_shape(w, "unet.time_embed.2.weight", {temb, temb});
  if (sdxl) {
    expect_shape(w, "unet.label_emb.0.0.weight", {temb, -1});
    expect_shape(w, "unet.label_emb.0.2.weight", {temb, temb});
  }

  // Text encoders, and the cross-attention context width they must feed.
  const int64_t h1 = check_text_encoder(w, "te1");
  int64_t ctx = h1;
  if (sdxl) {
    const int64_t h2 = check_text_encoder(w, "te2");
    expect_shape(w, "te2.text_projection.weight", {-1, h2});
    ctx = h1 + h2;
  }
  bool linear_proj = false;
  for (const auto& [name, t] : w.all()) {
    if (!starts_with(name, "unet.")) continue;
    if (ends_with(name, ".attn2.to_k.weight") || ends_with(name, ".attn2.to_v.weight")) expect_shape(w, name, {-1, ctx});
    if (ends_with(name, ".proj_in.weight") && t.dim() == 2) linear_proj = true;
  }

  if (sdxl)
    info.family = "sdxl";
  else if (hints.te1_openclip || linear_proj || h1 == 1024 || config_string(*model, "te1", "hidden_act") == "gelu")
    info.family = "sd2";  // 1024: ViT-H, whatever its names (stable-diffusion.cpp's GGUF: HF names, 1x1-conv projections)
  else
    info.family = "sd1";

  const std::string pt = config_string(*model, "scheduler", "prediction_type");
  if (pt == "v_prediction")
    info.prediction = "v";
  else if (pt == "epsilon")
    info.prediction = "epsilon";
  else if (!pt.empty())
    fail(ErrorCode::ModelUnsupported, info.path + ": scheduler prediction_type \"" + pt + "\" is not supported (epsilon, v_prediction)");
  else if (!hints.prediction.empty())
    info.prediction = hints.prediction;
  else {
    info.prediction = info.family == "sd2" ? "v" : "epsilon";
    info.prediction_guessed = true;
  }
}

namespace {

std::string json_list(const std::vector<int64_t>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + "]";
}

std::string text_config(const ModelWeights& w, const std::string& p, const char* act) {
  const int64_t h = w.get(p + ".text_model.embeddings.token_embedding.weight").size(1);
  int layers = 0;
  while (w.has(p + ".text_model.encoder.layers." + std::to_string(layers) + ".self_attn.q_proj.weight")) ++layers;
  // Released CLIP encoders use 64-wide heads.
  return "{\"hidden_size\": " + std::to_string(h) + ", \"num_hidden_layers\": " + std::to_string(layers) +
         ", \"num_attention_heads\": " + std::to_string(h / 64 > 0 ? h / 64 : 1) + ", \"hidden_act\": \"" + act +
         "\", \"layer_norm_eps\": 1e-05}";
}

}  // namespace

void add_standard_configs(LoadedModel* model) {
  const ModelWeights& w = model->weights;
  const std::string& family = model->info.family;
  auto& cfg = model->configs;
  const int64_t z = w.get("vae.post_quant_conv.weight").size(0);

  if (!cfg.count("unet")) {
    // Level widths and resnets per level, walking LDM input_blocks: a
    // downsampler (".0.op") closes a level.
    std::vector<int64_t> widths;
    int64_t per_level = 0;
    bool level_open = false;
    for (int k = 1;; ++k) {
      const std::string b = "unet.input_blocks." + std::to_string(k) + ".0.";
      if (w.has(b + "op.weight")) {
        level_open = false;
        continue;
      }
      if (!w.has(b + "out_layers.3.weight")) break;
      if (!level_open) widths.push_back(w.get(b + "out_layers.3.weight").size(0));
      level_open = true;
      if (widths.size() == 1) ++per_level;
    }
    std::vector<int64_t> heads;
    for (int64_t c : widths) heads.push_back(family == "sd1" ? 8 : (c / 64 > 0 ? c / 64 : 1));
    bool linear = false;
    for (const auto& [name, t] : w.all())
      if (starts_with(name, "unet.") && ends_with(name, ".proj_in.weight")) linear = t.dim() == 2;
    std::string u = "{\"in_channels\": " + std::to_string(w.get("unet.input_blocks.0.0.weight").size(1)) +
                    ", \"out_channels\": " + std::to_string(z) + ", \"block_out_channels\": " + json_list(widths) +
                    ", \"layers_per_block\": " + std::to_string(per_level) + ", \"norm_num_groups\": 32, \"norm_eps\": 1e-05" +
                    ", \"attention_head_dim\": " + json_list(heads) + ", \"use_linear_projection\": " + (linear ? "true" : "false") +
                    ", \"upcast_attention\": " + (family == "sd2" ? "true" : "false");
    if (family == "sdxl") {
      // label_emb input = pooled text width + 6 size/crop embeddings of equal
      // width (SDXL: 2816 = 1280 + 6 * 256), so the width follows from shapes.
      const int64_t adm_in = w.get("unet.label_emb.0.0.weight").size(1);
      const Tensor* proj = w.find("te2.text_projection.weight");
      const int64_t pooled = proj ? proj->size(0) : 1280;
      const int64_t time_dim = adm_in > pooled && (adm_in - pooled) % 6 == 0 ? (adm_in - pooled) / 6 : 256;
      u += ", \"addition_embed_type\": \"text_time\", \"addition_time_embed_dim\": " + std::to_string(time_dim) +
           ", \"projection_class_embeddings_input_dim\": " + std::to_string(adm_in);
    }
    cfg["unet"] = u + "}";
  }
  if (!cfg.count("vae"))
    cfg["vae"] = "{\"latent_channels\": " + std::to_string(z) +
                 ", \"norm_num_groups\": 32, \"scaling_factor\": " + (family == "sdxl" ? "0.13025" : "0.18215") + "}";
  if (!cfg.count("te1")) cfg["te1"] = text_config(w, "te1", family == "sd2" ? "gelu" : "quick_gelu");
  if (family == "sdxl" && !cfg.count("te2")) cfg["te2"] = text_config(w, "te2", "gelu");
  if (!cfg.count("scheduler"))
    cfg["scheduler"] = std::string("{\"num_train_timesteps\": 1000, \"beta_start\": 0.00085, \"beta_end\": 0.012, ") +
                       "\"beta_schedule\": \"scaled_linear\", \"steps_offset\": 1, \"timestep_spacing\": \"" +
                       (family == "sdxl" ? "leading" : "linspace") + "\", \"prediction_type\": \"" +
                       (model->info.prediction == "v" ? "v_prediction" : "epsilon") + "\"}";
}

}  // namespace sd
