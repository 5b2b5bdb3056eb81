#include "pipeline/memory_estimate.h"

#include <algorithm>

#include "models/unet.h"
#include "models/vae.h"
#include "pipeline/vae_decode.h"

namespace sd {

namespace {

// The U-Net's peak is at its first level, in a transformer block:
// attention's Q, K, V and output (4 x [R, hw, C0]), the block input, norm
// output and residual, and the skip connections kept for the up path (3 maps
// of this level, ~2 more from the lower ones). The feed-forward's GEGLU runs
// in token blocks of at most 16 MB, so it adds little: ~12 f32 maps of
// C0 x h x w per row (doubled below: SD 1.5 at 512x512 with CFG gives 252 MB,
// against 170-230 MB of activations and scratch measured, docs/performance.md).
constexpr int64_t kUnetMaps = 12;
// Peaks measured on the tiny SD1 model were 1.2x (512x512) to 2.5x (256x256,
// batch 4) these maps: convolution scratch (Winograd tiles, im2col panels)
// and allocator slack come on top of them.
constexpr int64_t kOverhead = 2;

}  // namespace

int64_t estimate_activation_bytes(const LoadedModel& model, int width, int height, int batch, bool guided) {
  const UNet unet = UNet::bind(model);
  const VAE vae = VAE::bind(model);
  const int64_t f = vae.downsample_factor();
  const int64_t h = height / f, w = width / f;  // latent size
  const int64_t rows = int64_t(batch) * (guided ? 2 : 1);
  const int64_t fmap = int64_t(unet.model_channels()) * h * w * int64_t(sizeof(float));
  const int64_t unet_bytes = kUnetMaps * rows * fmap;
  const int64_t decode_bytes =
      std::min(vae.decode_activation_bytes(h, w), kAutoTileActivationBytes);  // "auto" tiles above it, one image at a time
  // Latents, noise and the decoded batch stay alive across both stages.
  const int64_t kept =
      int64_t(batch) * (4 * vae.latent_channels() * h * w * int64_t(sizeof(float)) + int64_t(width) * height * 3 * int64_t(sizeof(float)));
  return kOverhead * std::max(unet_bytes, decode_bytes) + kept;
}

}  // namespace sd
