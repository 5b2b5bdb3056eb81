// The pipeline's VAE decode of one latent: whole, or in tiles when the
// caller asks for them or, with VaeTiling::Auto, when the untiled decode's
// activations would exceed kAutoTileActivationBytes.
#pragma once
#include "models/vae.h"
#include "pipeline/pipeline.h"

namespace sd {

// Above this activation estimate (VAE::decode_activation_bytes) "auto"
// tiles: about 1 GiB, i.e. SD's VAE decodes 512x512 (805 MB) whole and
// 512x768 (1.2 GB) or larger in tiles, so the decode stage stays below the
// U-Net stage's 1.7 GB of resident weights.
constexpr int64_t kAutoTileActivationBytes = int64_t(1) << 30;

// Whether decode_latent() tiles a [1, L, h, w] latent under `p`.
bool vae_decode_tiles(const VAE& vae, const GenerateParams& p, int64_t h, int64_t w);

// z [1, L, h, w] raw latent -> image [1, 3, f*h, f*w]. Throws
// ERR_INVALID_OPTION when the tile sizes are not multiples of the VAE's factor;
// a tiled decode calls throw_if_aborted(*cb) before each tile when cb is set.
Tensor decode_latent(Compute& c, const VAE& vae, const Tensor& z, const GenerateParams& p, const Callbacks* cb = nullptr);

}  // namespace sd
