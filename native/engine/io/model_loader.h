// Opens a checkpoint in any supported form and returns its weights under the
// engine's canonical names plus what was detected about it.
//
// Canonical names (what model code binds to):
//   unet.<LDM name>   e.g. unet.input_blocks.1.0.in_layers.2.weight
//   vae.<LDM name>    e.g. vae.decoder.mid.attn_1.q.weight  ([C, C, 1, 1] as in LDM)
//   te1.<HF CLIP name> / te2.<HF CLIP name>, e.g. te1.text_model.final_layer_norm.weight
// (te1 is the only encoder of SD 1.x/2.x and the CLIP-L encoder of SDXL;
// te2 is SDXL's OpenCLIP bigG encoder.) See docs/model-loading.md.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "io/clip_vocab.h"
#include "io/tensor_file.h"
#include "tensor/tensor.h"

namespace sd {

struct LoadOptions {
  // A diffusers folder (or its unet/ vae/ text_encoder/ config.json files)
  // that supplies hyper-parameters a single-file checkpoint cannot express,
  // such as norm_num_groups. Empty: standard SD values.
  std::string config_path;
  // A standalone VAE (io/vae_file.h) replacing the checkpoint's. Empty: keep it.
  std::string vae_path;
  // On-load weight conversion (quant/quantize_model.h): "" keeps weights as
  // stored; else "f32" | "f16" | "bf16" | "q8_0" | "q4_0" | ... applied to the
  // U-Net's and text encoders' matmul weights. Per-component overrides by
  // "unet" / "te" / "vae" ("" = as stored).
  std::string weight_type;
  std::map<std::string, std::string> component_weight_types;
};

struct ComponentInfo {
  std::string dtype;  // dominant stored dtype, e.g. "f16"
  int64_t parameter_count = 0;
};

struct ModelInfo {
  std::string family;  // "sd1" | "sd2" | "sdxl"
  std::string format;  // "safetensors" | "diffusers" | "ckpt" | "gguf"
  std::string path;
  uint64_t file_size = 0;  // bytes on disk, all files together
  int64_t parameter_count = 0;
  std::map<std::string, ComponentInfo> components;  // "unet", "vae", "te1", "te2"
  std::string prediction;                           // "epsilon" | "v" (best guess; settable per call)
  bool prediction_guessed = false;                  // nothing said it: the family's default (pipeline/prediction_probe.h)
  bool inpaint = false;                             // 9-channel U-Net
};

class ModelWeights {
 public:
  const Tensor* find(const std::string& name) const;
  // Throws ERR_MODEL_FORMAT naming the tensor if it is missing.
  const Tensor& get(const std::string& name) const;
  bool has(const std::string& name) const { return find(name) != nullptr; }
  void set(const std::string& name, Tensor t) { tensors_[name] = std::move(t); }
  const std::map<std::string, Tensor>& all() const { return tensors_; }

 private:
  std::map<std::string, Tensor> tensors_;
};

struct LoadedModel {
  ModelInfo info;
  ModelWeights weights;
  // Hyper-parameters read from config.json files where present (raw JSON
  // text per component, e.g. "unet" -> "{...}"); models/ parse what they need.
  std::map<std::string, std::string> configs;
  std::string tokenizer_dir;  // the model's own tokenizer/ folder, if any
  ClipVocab vocab;            // the vocabulary a GGUF file carries, if any (io/clip_vocab.h)
  // Tensors of a single file that the engine does not run but `convert`
  // writes back under these (file) names, so a conversion loses nothing a
  // loader may look for: SD 2.x's last OpenCLIP layer (SD 2.x conditions on
  // the penultimate one), OpenCLIP's unused text_projection and logit_scale,
  // the `v_pred` / `ztsnr` markers.
  std::map<std::string, Tensor> carried;
};

// Throws sd::Error: ERR_MODEL_NOT_FOUND, ERR_MODEL_FORMAT, ERR_MODEL_UNSUPPORTED, ERR_IO.
std::unique_ptr<LoadedModel> load_model(const std::string& path, const LoadOptions& options);

// A copy of `base` to carry per-call weights (LoRA merges and side paths,
// textual-inversion rows): every field is copied and every tensor shared with
// `base` (Tensor copies share storage), so only what the caller then sets in
// `weights` is new and `base` is never touched.
std::shared_ptr<LoadedModel> overlay_model(const LoadedModel& base);

}  // namespace sd
