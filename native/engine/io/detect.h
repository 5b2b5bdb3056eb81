// Architecture detection and key-shape validation over canonical weights.
//   sdxl: U-Net has label_emb (SDXL's add_embedding) and there are two text
//         encoders (te1 CLIP-L style, te2 OpenCLIP style with projection).
//   sd2:  te1 came from an OpenCLIP tower, or its config says gelu, or the
//         U-Net's transformer proj_in is Linear (2-D) rather than a 1x1 conv.
//   sd1:  otherwise.
// Widths are read from the weights, never assumed, so tiny test models are
// detected like full-size ones.
#pragma once
#include "io/model_loader.h"

namespace sd {

struct DetectHints {
  bool te1_openclip = false;  // te1 was mapped from OpenCLIP names (SD2 single file)
  // "v" / "epsilon" from the file itself (a `v_pred` marker tensor, or
  // modelspec.prediction_type metadata); "" when it says nothing.
  std::string prediction;
};

// Sets info.family / prediction / inpaint / components / parameter_count.
// Throws ERR_MODEL_UNSUPPORTED when the parts of an SD pipeline are missing
// or of an unknown kind (naming what was found), ERR_MODEL_FORMAT naming the
// tensor, expected and found shape when a key weight is wrong-shaped.
void detect_model(LoadedModel* model, const DetectHints& hints);

// Adds standard SD hyper-parameters (32 GroupNorm groups, head counts,
// activation, VAE scale, schedule) for every component whose config is
// absent, as diffusers-style config JSON. For single-file checkpoints
// loaded without LoadOptions::config_path. Call after detect_model().
void add_standard_configs(LoadedModel* model);

}  // namespace sd
