#include "io/model_loader.h"

#include <filesystem>

#include "core/error.h"
#include "io/detect.h"
#include "io/diffusers.h"
#include "io/file_path.h"
#include "io/name_map.h"
#include "io/vae_file.h"
#include "quant/quantize_model.h"

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

namespace {

bool is_directory(const std::string& path) {
  std::error_code ec;
  return std::filesystem::is_directory(fs_path(path), ec);
}

// What a single file says of its prediction type: modelspec.prediction_type
// metadata (kohya's sd-scripts, our convert), else a `v_pred` marker tensor.
std::string file_prediction(const TensorFile& file, const SingleFileLayout& layout) {
  auto it = file.metadata.find("modelspec.prediction_type");
  if (it != file.metadata.end()) {
    if (it->second == "v" || it->second == "v_prediction") return "v";
    if (it->second == "epsilon") return "epsilon";
    fail(ErrorCode::ModelUnsupported, file.path + ": modelspec.prediction_type \"" + it->second + "\" is not supported (epsilon, v)");
  }
  return layout.v_pred_marker ? "v" : "";
}

}  // namespace

std::unique_ptr<LoadedModel> load_model(const std::string& path, const LoadOptions& options) {
  auto model = std::make_unique<LoadedModel>();
  model->info.path = path;
  DetectHints hints;
  if (is_directory(path)) {
    model->info.format = "diffusers";
    read_diffusers_folder(path, model.get());
  } else {
    TensorFile file = read_tensor_file(path);
    model->info.format = file.format;
    model->info.file_size = file.file_size;
    if (file.format == "gguf") model->vocab = clip_vocab_from_gguf(file);
    SingleFileLayout layout;
    try {
      layout = map_single_file(file.tensors, &model->weights);
    } catch (const Error& e) {
      fail(e.code(), path + ": " + e.what());  // the mapping's messages name tensors, not the file
    }
    hints.te1_openclip = layout.te1_openclip;
    hints.prediction = file_prediction(file, layout);
    model->carried = std::move(layout.carried);
    if (!options.config_path.empty()) {
      if (!is_directory(options.config_path))
        fail(ErrorCode::InvalidOption, "config: " + options.config_path + " is not a diffusers folder");
      read_diffusers_configs(options.config_path, &model->configs);
      if (model->configs.empty())
        fail(ErrorCode::InvalidOption, "config: " + options.config_path + " has no unet/ vae/ text_encoder/ or scheduler/ config files");
    }
  }
  if (!options.vae_path.empty()) replace_vae(model.get(), options.vae_path);
  detect_model(model.get(), hints);
  add_standard_configs(model.get());
  quant::apply_weight_types(model.get(), {options.weight_type, options.component_weight_types});
  return model;
}

std::shared_ptr<LoadedModel> overlay_model(const LoadedModel& base) { return std::make_shared<LoadedModel>(base); }

}  // namespace sd
