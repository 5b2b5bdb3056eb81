// `sd-native convert`: any checkpoint we load -> one GGUF file with the
// original single-file names (model.diffusion_model.*, first_stage_model.*,
// cond_stage_model.transformer.* for SD 1.x; the OpenCLIP
// cond_stage_model.model.* for SD 2.x; conditioner.embedders.0.transformer.*
// and the OpenCLIP conditioner.embedders.1.model.* for SDXL; OpenCLIP's q/k/v
// fused back into attn.in_proj and text_projection transposed back to
// [in, out]), as the most used C++ SD engine's converter writes them, so both
// engines read the result. A single file's tensors that the engine does not
// run (LoadedModel::carried: SD 2.x's last OpenCLIP layer, text_projection,
// logit_scale) are written back as float; an SD 2.x diffusers folder, which
// has no last layer, gets a zero one (an identity block).
//
// Types: the U-Net's and text encoders' matmul weights whose rows are whole
// blocks become `type` (quantize_model.h's rule, plus GGUF's own constraint
// that blocks run along the innermost dimension, so 3x3 and 1x1 conv kernels
// stay float; like that converter, the U-Net's time_embed stays float too);
// every other tensor is f16 (f32 / bf16 when `type` is one of those), as
// that converter does.
//
// The source's own tokenizer (a diffusers tokenizer/ folder, or the
// vocabulary a GGUF carries) is written as tokenizer.ggml.* metadata
// (io/clip_vocab.h).
#pragma once
#include <functional>
#include <string>

#include "io/model_loader.h"

namespace sd {
namespace quant {

// Throws ERR_INVALID_OPTION (bad type), ERR_MODEL_UNSUPPORTED (a family without a single-file layout), ERR_IO,
// and any load_model() error. progress(done, total) after each tensor.
void convert_to_gguf(const std::string& src, const std::string& out_path, const std::string& type,
                     const std::function<void(size_t, size_t)>& progress = nullptr);

}  // namespace quant
}  // namespace sd
