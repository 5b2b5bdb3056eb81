// A standalone VAE that replaces a checkpoint's own (loadModel's `vae`
// option): a single file with original LDM names (encoder.*, decoder.*,
// quant_conv, post_quant_conv; with or without the "first_stage_model."
// prefix), a single file with diffusers AutoencoderKL names, or a diffusers
// vae/ folder (config.json + diffusion_pytorch_model.safetensors|.bin).
#pragma once
#include <string>

#include "io/model_loader.h"

namespace sd {

// Replaces every vae.* weight of `model` (and its "vae" config when the
// folder has one). Validated before anything is replaced: the decoder must be
// complete and its latent channels must match the model's.
// Throws ERR_MODEL_NOT_FOUND, ERR_MODEL_FORMAT (not a VAE, incomplete),
// ERR_MODEL_UNSUPPORTED (latent channels differ), reader errors.
void replace_vae(LoadedModel* model, const std::string& path);

}  // namespace sd
