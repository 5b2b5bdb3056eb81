// The pipeline's tiling decision and tile-size checks (pipeline/vae_decode)
// on the tiny SD 1.x VAE (factor 8, 32 channels at full resolution): "auto"
// tiles exactly when the activation estimate passes 1 GiB; explicit modes
// win; tile sizes that are not multiples of the factor are refused. And the
// shared GroupNorm statistics tiles are decoded with: ops::group_sums and
// ops::group_norm with given statistics against direct sums, and the
// statistics session reproducing the whole decode. And the cancellation poll
// before each tile.
#define SD_TEST_MAIN
#include <cmath>

#include "core/error.h"
#include "kernel_test_util.h"
#include "kernels/ops.h"
#include "models/group_norm_session.h"
#include "null_callbacks.h"
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

// Sums of x [B, C, H, W] for (batch b, group g) over rows [y0, y1) and columns [x0, x1), directly.
static ops::GroupSums direct_sums(const Tensor& x, int groups, int64_t b, int64_t g, const ops::Region2d& r) {
  const int64_t C = x.size(1), H = x.size(2), W = x.size(3), cg = C / groups;
  ops::GroupSums s;
  for (int64_t ch = g * cg; ch < (g + 1) * cg; ++ch)
    for (int64_t y = r.y0; y < r.y1; ++y)
      for (int64_t xx = r.x0; xx < r.x1; ++xx) {
        const double v = x.data_as<float>()[((b * C + ch) * H + y) * W + xx];
        s.sum += v;
        s.sumsq += v * v;
        ++s.count;
      }
  return s;
}

TEST(group_sums_accumulate_a_region_per_batch_and_group) {
  Tensor x = ktest::rand_tensor({2, 8, 5, 7}, 21, 2.f);  // [B, C, H, W]
  Compute c;
  std::vector<ops::GroupSums> acc(2 * 4);
  const ops::Region2d r{1, 4, 2, 6};
  ops::group_sums(c, x, 4, r, acc.data());
  ops::group_sums(c, x, 4, r, acc.data());  // adds: twice the sums
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t g = 0; g < 4; ++g) {
      const ops::GroupSums d = direct_sums(x, 4, b, g, r);
      const ops::GroupSums& a = acc[size_t(b * 4 + g)];
      CHECK(a.count == 2 * d.count && d.count == 2 * 3 * 4);
      CHECK_MSG(std::fabs(a.sum - 2 * d.sum) < 1e-9 && std::fabs(a.sumsq - 2 * d.sumsq) < 1e-9, "(%d, %d) sums %g %g vs %g %g", int(b),
                int(g), a.sum, a.sumsq, 2 * d.sum, 2 * d.sumsq);
    }
  CHECK_THROWS_CODE(ops::group_sums(c, x, 4, {0, 6, 0, 7}, acc.data()), ErrorCode::Internal);
  CHECK_THROWS_CODE(ops::group_sums(c, x, 4, {3, 2, 0, 7}, acc.data()), ErrorCode::Internal);
}

TEST(group_norm_with_given_statistics) {
  Tensor x = ktest::rand_tensor({2, 8, 5, 7}, 22, 3.f);      // [B, C, H, W]
  Tensor other = ktest::rand_tensor({2, 8, 9, 4}, 23, 1.f);  // the statistics' source
  Tensor gamma = ktest::rand_tensor({8}, 24), beta = ktest::rand_tensor({8}, 25);
  Compute c;
  // x's own sums: the same as the default path.
  std::vector<ops::GroupSums> own(8);
  ops::group_sums(c, x, 4, {0, 5, 0, 7}, own.data());
  Tensor ref = ops::group_norm(c, x, 4, gamma, beta, 1e-6f, true);
  CHECK_CLOSE(ops::group_norm(c, x, 4, gamma, beta, 1e-6f, true, own.data()), ref, "own sums");
  // Another tensor's sums: (x - mean) / sqrt(var + eps) * gamma + beta with its mean and variance.
  std::vector<ops::GroupSums> st(8);
  for (int64_t i = 0; i < 8; ++i) st[size_t(i)] = direct_sums(other, 4, i / 4, i % 4, {0, 9, 0, 4});
  Tensor y = ops::group_norm(c, x, 4, gamma, beta, 1e-6f, false, st.data());
  Tensor want = Tensor::empty(DType::F32, x.shape());
  for (int64_t i = 0; i < x.numel(); ++i) {
    const int64_t ch = (i / 35) % 8, b = i / (35 * 8);
    const ops::GroupSums& s = st[size_t(b * 4 + ch / 2)];
    const double m = s.sum / double(s.count), v = s.sumsq / double(s.count) - m * m;
    want.data_as<float>()[i] =
        float((x.data_as<float>()[i] - m) / std::sqrt(v + 1e-6) * gamma.data_as<float>()[ch] + beta.data_as<float>()[ch]);
  }
  CHECK_CLOSE(y, want, "given statistics");
  Tensor inplace = x.to_f32();  // a copy
  ops::group_norm_(c, inplace, 4, gamma, beta, 1e-6f, false, st.data());
  CHECK(ktest::bit_equal(inplace, y));
  st[5].count = 0;  // statistics of nothing
  CHECK_THROWS_CODE(ops::group_norm(c, x, 4, gamma, beta, 1e-6f, false, st.data()), ErrorCode::Internal);
}

// Recording the whole map (as one tile, or as two tiles that each own half of
// it) and applying what was recorded is the whole decode: the session hands
// every GroupNorm call its own layer's statistics.
TEST(group_norm_session_with_whole_map_statistics_reproduces_the_decode) {
  auto m = load_tiny_sd1();
  VAE vae = VAE::bind(*m);
  Refs ref = load_refs("tiny-sd1/ref/vae.safetensors");
  const Tensor& z = ref["decode.d1.z"];  // [1, 4, 16, 24]
  GroupNormSession s;
  Compute c;
  c.group_norm_stats = &s;
  s.begin_pass(/*record=*/true, /*apply=*/false);
  s.begin_tile(16, 24, {0, 16, 0, 24});
  CHECK_CLOSE(vae.decode(c, z), ref["decode.d1.image"], "recording only");
  s.end_pass();
  s.begin_pass(/*record=*/true, /*apply=*/true);
  s.begin_tile(16, 24, {0, 16, 0, 24});
  CHECK_CLOSE(vae.decode(c, z), ref["decode.d1.image"], "whole-map statistics applied");
  s.end_pass();
  // Two "tiles" over the same latent owning rows 0..5 and 5..16: the same sums.
  s.begin_pass(/*record=*/true, /*apply=*/false);
  s.begin_tile(16, 24, {0, 5, 0, 24});
  vae.decode(c, z);
  s.begin_tile(16, 24, {5, 16, 0, 24});
  vae.decode(c, z);
  s.end_pass();
  s.begin_pass(/*record=*/false, /*apply=*/true);
  s.begin_tile(16, 24, {0, 16, 0, 24});
  CHECK_CLOSE(vae.decode(c, z), ref["decode.d1.image"], "statistics from two owned halves");
  // A map that is no multiple of the tile: the session refuses it.
  s.begin_pass(/*record=*/true, /*apply=*/false);
  s.begin_tile(16, 16, {0, 16, 0, 16});
  CHECK_THROWS_CODE(vae.decode(c, z), ErrorCode::Internal);
}

// A tiled decode takes minutes at large sizes: the pipeline's cancellation
// poll runs before every tile of both passes, and an abort stops the decode.
TEST(tiled_decode_polls_for_abort_before_each_tile) {
  auto m = load_tiny_sd1();
  VAE vae = VAE::bind(*m);
  Compute c;
  Tensor z = Tensor::zeros(DType::F32, {1, 4, 16, 24});  // tiles of 12, overlap 4: 2 x 3 tiles
  struct AbortAfter : sdtest::NullCallbacks {
    mutable int polls = 0;
    int limit = 0;
    bool is_aborted() const override { return ++polls > limit; }
  } cb;
  GenerateParams p;
  p.vae_tiling = VaeTiling::On;
  p.vae_tile_size = 96;
  p.vae_tile_overlap = 32;
  cb.limit = 1000;
  decode_latent(c, vae, z, p, &cb);
  CHECK_MSG(cb.polls == 12, "%d polls for 2 passes x 6 tiles", cb.polls);
  cb.polls = 0;
  cb.limit = 7;  // aborted at the second tile of pass 2
  CHECK_THROWS_CODE(decode_latent(c, vae, z, p, &cb), ErrorCode::Aborted);
  CHECK(cb.polls == 8);
}
