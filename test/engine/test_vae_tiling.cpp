// The pipeline's tiling decision and tile-size checks (pipeline/vae_decode)
// on the tiny SD 1.x VAE (factor 8, 32 channels at full resolution): "auto"
// tiles exactly when the activation estimate passes 1 GiB; explicit modes
// win; tile sizes that are not multiples of the factor are refused.
#define SD_TEST_MAIN
#include "core/error.h"
#include "pipeline/vae_decode.h"
#include "test_model_fixtures.h"

using namespace sd;
using namespace modeltest;

TEST(vae_activation_estimate_is_six_full_resolution_maps) {
  auto m = load_tiny_sd1();
  VAE vae = VAE::bind(*m);
  // 6 maps x 32 channels x (8*16) x (8*24) pixels x 4 bytes.
  CHECK(vae.decode_activation_bytes(16, 24) == int64_t(6) * 32 * 128 * 192 * 4);
}

TEST(auto_tiles_above_the_threshold_and_explicit_modes_win) {
  auto m = load_tiny_sd1();
  VAE vae = VAE::bind(*m);
  GenerateParams p;
  // 6 * 32 * 64 * h * w * 4 bytes > 2^30  <=>  h * w > 21845.
  CHECK(!vae_decode_tiles(vae, p, 147, 148));  // 21756 latent pixels
  CHECK(vae_decode_tiles(vae, p, 148, 148));   // 21904
  p.vae_tiling = VaeTiling::Off;
  CHECK(!vae_decode_tiles(vae, p, 512, 512));
  p.vae_tiling = VaeTiling::On;
  CHECK(vae_decode_tiles(vae, p, 8, 8));
}

TEST(decode_latent_tiles_with_the_requested_sizes) {
  auto m = load_tiny_sd1();
  VAE vae = VAE::bind(*m);
  Compute c;
  Tensor z = Tensor::zeros(DType::F32, {1, 4, 16, 24});
  for (int64_t i = 0; i < z.numel(); ++i) z.data_as<float>()[i] = float((i * 7919) % 23) / 11.0f - 1.0f;
  GenerateParams p;
  p.vae_tiling = VaeTiling::On;
  p.vae_tile_size = 96;  // 12 latent pixels
  p.vae_tile_overlap = 32;
  CHECK_CLOSE(decode_latent(c, vae, z, p), vae.decode_tiled(c, z, 12, 4), "pixels -> latent tile sizes");
  p.vae_tiling = VaeTiling::Auto;  // small: whole
  CHECK_CLOSE(decode_latent(c, vae, z, p), vae.decode(c, z), "auto below the threshold");
  p.vae_tiling = VaeTiling::On;
  p.vae_tile_size = 100;
  CHECK_THROWS_CODE(decode_latent(c, vae, z, p), ErrorCode::InvalidOption);
  p.vae_tile_size = 96;
  p.vae_tile_overlap = 20;
  CHECK_THROWS_CODE(decode_latent(c, vae, z, p), ErrorCode::InvalidOption);
}
