#include "io/vae_file.h"

#include <filesystem>

#include "core/error.h"
#include "io/diffusers.h"
#include "io/file_path.h"
#include "io/name_map.h"
#include "io/tensor_file.h"
#include "util/strings.h"

namespace sd {

namespace {

namespace fs = std::filesystem;

bool is_file(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}

// Tensors an LDM VAE file may carry besides the autoencoder (EMA counters,
// the training loss's discriminator/LPIPS weights).
bool is_training_extra(const std::string& name) {
  return starts_with(name, "model_ema.") || starts_with(name, "loss.") || name == "epoch" || name == "global_step";
}

// The VAE's tensors under canonical vae.* names, from whichever layout the file uses.
ModelWeights map_vae_tensors(const NamedTensors& tensors, const std::string& path) {
  bool diffusers = false;
  for (const auto& [name, t] : tensors)
    if (name.find(".up_blocks.") != std::string::npos || name.find(".mid_block.") != std::string::npos) diffusers = true;
  ModelWeights out;
  if (diffusers) {
    map_diffusers_vae(tensors, &out);
    return out;
  }
  for (const auto& [name, t] : tensors) {
    if (is_training_extra(name)) continue;
    const std::string ldm = starts_with(name, "first_stage_model.") ? name.substr(18) : name;
    if (!starts_with(ldm, "encoder.") && !starts_with(ldm, "decoder.") && !starts_with(ldm, "quant_conv.") &&
        !starts_with(ldm, "post_quant_conv."))
      fail(ErrorCode::ModelFormat, "vae " + path + ": \"" + name + "\" is not a VAE weight (is this a full checkpoint?)");
    out.set("vae." + ldm, t);
  }
  return out;
}

const Tensor& need(const ModelWeights& w, const std::string& name, const std::string& path) {
  const Tensor* t = w.find(name);
  if (!t) fail(ErrorCode::ModelFormat, "vae " + path + ": missing \"" + name.substr(4) + "\" (not a complete VAE)");
  return *t;
}

}  // namespace

void replace_vae(LoadedModel* model, const std::string& path) {
  std::string file = path, config;
  std::error_code ec;
  if (fs::is_directory(fs_path(path), ec)) {
    const fs::path dir = fs_path(path);
    file.clear();
    for (const char* name :
         {"diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.fp16.safetensors", "diffusion_pytorch_model.bin"})
      if (file.empty() && is_file(dir / name)) file = utf8_path(dir / name);
    if (file.empty()) fail(ErrorCode::ModelFormat, "vae " + path + ": folder has no diffusion_pytorch_model.safetensors");
    if (is_file(dir / "config.json")) config = read_json_object_file(utf8_path(dir / "config.json"));
  } else if (!is_file(path)) {
    fail(ErrorCode::ModelNotFound, "vae file not found: " + path);
  }
  TensorFile tf = read_tensor_file(file);
  ModelWeights vae = map_vae_tensors(tf.tensors, path);

  // Validation: a decoder from latents [z] to pixels, matching this model's latent space.
  const Tensor& conv_in = need(vae, "vae.decoder.conv_in.weight", path);  // [C, z, 3, 3]
  const Tensor& post = need(vae, "vae.post_quant_conv.weight", path);     // [z, z, 1, 1]
  const Tensor& out = need(vae, "vae.decoder.conv_out.weight", path);     // [3, C, 3, 3]
  if (conv_in.dim() != 4 || post.dim() != 4 || out.dim() != 4 || conv_in.size(1) != post.size(0) || out.size(0) != 3)
    fail(ErrorCode::ModelFormat, "vae " + path + ": decoder weights have inconsistent shapes");
  const Tensor* old = model->weights.find("vae.decoder.conv_in.weight");
  const int64_t z = conv_in.size(1);
  if (old && old->size(1) != z)
    fail(ErrorCode::ModelUnsupported,
         "vae " + path + ": " + std::to_string(z) + " latent channels, but this model uses " + std::to_string(old->size(1)));

  ModelWeights merged;
  for (const auto& [name, t] : model->weights.all())
    if (!starts_with(name, "vae.")) merged.set(name, t);
  for (const auto& [name, t] : vae.all()) merged.set(name, t);
  model->weights = std::move(merged);
  if (!config.empty()) model->configs["vae"] = config;
  model->info.file_size += tf.file_size;
}

}  // namespace sd
