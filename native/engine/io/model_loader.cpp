#include "io/model_loader.h"

#include "core/error.h"
#include "io/safetensors.h"

namespace sd {

const Tensor* ModelWeights::find(const std::string& name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

const Tensor& ModelWeights::get(const std::string& name) const {
  const Tensor* t = find(name);
  if (!t) fail(ErrorCode::ModelFormat, "checkpoint is missing the weight \"" + name + "\"");
  return *t;
}

// Minimal first version: single-file LDM safetensors. Replaced by the full
// loader (diffusers folders, ckpt, name mapping, detection).
std::unique_ptr<LoadedModel> load_model(const std::string& path, const LoadOptions&) {
  TensorFile file = read_safetensors(path);
  auto model = std::make_unique<LoadedModel>();
  model->info.format = "safetensors";
  model->info.path = path;
  model->info.file_size = file.file_size;
  for (auto& [name, t] : file.tensors) {
    model->info.parameter_count += t.numel();
    if (name.rfind("model.diffusion_model.", 0) == 0) model->weights.set("unet." + name.substr(22), t);
    if (name.rfind("first_stage_model.", 0) == 0) model->weights.set("vae." + name.substr(18), t);
    if (name.rfind("cond_stage_model.transformer.", 0) == 0) model->weights.set("te1." + name.substr(29), t);
    if (name.rfind("conditioner.embedders.0.transformer.", 0) == 0) model->weights.set("te1." + name.substr(36), t);
  }
  if (!model->weights.has("unet.input_blocks.0.0.weight"))
    fail(ErrorCode::ModelUnsupported, path + ": no U-Net found (expected model.diffusion_model.* tensors)");
  model->info.family = "sd1";
  return model;
}

}  // namespace sd
