// Maps the tensor names of every supported layout onto the engine's canonical
// names (see model_loader.h):
//   diffusers UNet / VAE folder names   -> unet.<LDM name> / vae.<LDM name>
//   HF CLIP text encoder names          -> te1./te2.<HF name> (unchanged)
//   OpenCLIP text encoder names (SD2, SDXL te2) -> te1./te2.<HF name>
//   original single-file LDM prefixes   -> the above
// Block indices are computed from the blocks actually present (layers per
// block are counted, not assumed), so any depth/width maps the same way.
// Mapped tensors are zero-copy views; the only copy is SDXL's small
// text_projection, which OpenCLIP stores transposed.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "io/model_loader.h"
#include "tensor/tensor.h"

namespace sd {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

// diffusers UNet2DConditionModel weights -> unet.<LDM name>.
// `layers_per_block` from config.json (-1 if absent) is cross-checked against
// the resnets found. Throws ERR_MODEL_UNSUPPORTED naming an unknown tensor.
void map_diffusers_unet(const NamedTensors& tensors, int layers_per_block, ModelWeights* out);

// diffusers AutoencoderKL weights -> vae.<LDM name>; attention Linear [C, C]
// becomes the LDM 1x1 conv [C, C, 1, 1] (a view).
void map_diffusers_vae(const NamedTensors& tensors, ModelWeights* out);

// HF CLIPTextModel(WithProjection) weights -> <prefix>.<same name>.
void map_hf_text_encoder(const NamedTensors& tensors, const std::string& prefix, ModelWeights* out);

// How many of an SD 2.x single file's `layers` OpenCLIP text layers of
// `width` run: SD 2.x conditions on the penultimate layer of ViT-H/14's
// 24-layer, 1024-wide tower (then ln_final). Original checkpoints hold all
// 24, so the last is dropped; files exported from a diffusers folder (by
// diffusers' own convert script) hold only the 23 that run, and all of them
// stay. Other widths (test models) are taken to hold the whole tower.
int sd2_text_layers_to_run(int64_t width, int layers);

// OpenCLIP text tower (names relative to `...model.`) -> <prefix>.<HF name>.
// `drop_last_layer`: SD2 checkpoints carry one resblock more than the encoder
// SD2 actually runs (it conditions on the penultimate layer, then ln_final);
// dropping it (sd2_text_layers_to_run) makes the single file equal to the
// diffusers folder.
// text_projection ([in, out] in OpenCLIP) is kept only if `keep_projection`,
// as <prefix>.text_projection.weight in HF Linear layout [out, in].
// What it does not map (the dropped layer, an unkept text_projection,
// logit_scale) goes to `carried` under `source_prefix` + its own name.
void map_openclip_text_encoder(const NamedTensors& tensors, const std::string& prefix, bool drop_last_layer, bool keep_projection,
                               ModelWeights* out, const std::string& source_prefix, std::map<std::string, Tensor>* carried);

// What a single-file LDM checkpoint contained, for detection.
struct SingleFileLayout {
  bool te1_openclip = false;   // SD2: cond_stage_model.model.*
  bool v_pred_marker = false;  // a top-level `v_pred` tensor: v-prediction (ComfyUI / A1111 / sd.cpp convention)
  int ignored = 0;             // tensors outside the known prefixes (EMA copies, schedules, ...)
  // OpenCLIP tensors the engine does not run and the `v_pred` / `ztsnr`
  // markers, under their file names (LoadedModel::carried).
  std::map<std::string, Tensor> carried;
};

// Original single-file names (model.diffusion_model.*, first_stage_model.*,
// cond_stage_model.*, conditioner.embedders.N.*) -> canonical names.
SingleFileLayout map_single_file(const NamedTensors& tensors, ModelWeights* out);

}  // namespace sd
