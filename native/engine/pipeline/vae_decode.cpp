#include "pipeline/vae_decode.h"

#include <string>

namespace sd {

bool vae_decode_tiles(const VAE& vae, const GenerateParams& p, int64_t h, int64_t w) {
  switch (p.vae_tiling) {
    case VaeTiling::On: return true;
    case VaeTiling::Off: return false;
    case VaeTiling::Auto: break;
  }
  return vae.decode_activation_bytes(h, w) > kAutoTileActivationBytes;
}

Tensor decode_latent(Compute& c, const VAE& vae, const Tensor& z, const GenerateParams& p, const Callbacks* cb) {
  if (!vae_decode_tiles(vae, p, z.size(2), z.size(3))) return vae.decode(c, z);
  const int f = vae.downsample_factor();
  if (p.vae_tile_size % f || p.vae_tile_overlap % f)
    fail(ErrorCode::InvalidOption, "VAE tile size and overlap must be multiples of " + std::to_string(f) + " pixels, got " +
                                       std::to_string(p.vae_tile_size) + " and " + std::to_string(p.vae_tile_overlap));
  std::function<void()> poll;
  if (cb) poll = [cb] { throw_if_aborted(*cb); };
  return vae.decode_tiled(c, z, p.vae_tile_size / f, p.vae_tile_overlap / f, poll);
}

}  // namespace sd
