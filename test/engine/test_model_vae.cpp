// VAE encoder/decoder against the reference (diffusers AutoencoderKL) on the
// tiny fixture: decode with intermediates at two sizes, encode moments, the
// posterior split and sample; scaling factor stays outside the VAE.
#define SD_TEST_MAIN
#include <algorithm>

#include "core/error.h"
#include "kernel_test_util.h"
#include "kernels/ops.h"
#include "models/group_norm_session.h"
#include "models/resnet.h"
#include "models/vae.h"
#include "test_model_fixtures.h"

using namespace sd;
using namespace modeltest;

TEST(vae_decode_matches_reference_at_two_sizes) {
  auto m = load_tiny_sd1();
  VAE vae = VAE::bind(*m);
  CHECK(vae.latent_channels() == 4 && vae.downsample_factor() == 8 && vae.has_encoder());
  CHECK(vae.scaling_factor() == 0.18215f);
  Refs ref = load_refs("tiny-sd1/ref/vae.safetensors");
  Compute c;
  for (const char* d : {"d0", "d1"}) {
    std::string k = std::string("decode.") + d + ".";
    Tensor img = vae.decode(c, ref[k + "z"]);
    CHECK_CLOSE(img, ref[k + "image"], k + "image");
    std::printf("  %simage rel L2 %.3g\n", k.c_str(), rel_err(img, ref[k + "image"]));
  }
}

TEST(vae_encode_moments_posterior_and_sample_match_reference) {
  auto m = load_tiny_sd1();
  VAE vae = VAE::bind(*m);
  Refs ref = load_refs("tiny-sd1/ref/vae.safetensors");
  Compute c;
  const Tensor& image = ref["encode.e0.image"];
  Tensor moments = vae.encode_moments(c, image);
  CHECK_CLOSE(moments, ref["encode.e0.moments"], "moments");
  std::printf("  moments rel L2 %.3g\n", rel_err(moments, ref["encode.e0.moments"]));
  VaePosterior post = vae.encode(c, image);
  CHECK_CLOSE(post.mean, ref["encode.e0.mean"], "mean");
  CHECK_CLOSE(post.logvar, ref["encode.e0.logvar"], "logvar");
  // With zero noise the sample is the mean; with unit noise it is mean + std.
  Tensor zero = Tensor::zeros(DType::F32, post.mean.shape());
  CHECK_CLOSE(post.sample(zero), ref["encode.e0.mean"], "sample(0)");
  Tensor ones = Tensor::empty(DType::F32, post.mean.shape());
  for (int64_t i = 0; i < ones.numel(); ++i) ones.data_as<float>()[i] = 1.0f;
  Tensor s = post.sample(ones);
  const float* sm = s.data_as<float>();
  const float* mean = ref["encode.e0.mean"].data_as<float>();
  Tensor diff = Tensor::empty(DType::F32, s.shape());
  for (int64_t i = 0; i < s.numel(); ++i) diff.data_as<float>()[i] = sm[i] - mean[i];
  CHECK_CLOSE(diff, ref["encode.e0.std"], "sample(1) - mean = std");
  CHECK_THROWS_CODE(post.sample(Tensor::zeros(DType::F32, {1, 4, 4, 4})), ErrorCode::InvalidOption);
}

// Crop [B, C, y0:y0+h, x0:x0+w] of an NCHW tensor.
static Tensor crop(const Tensor& t, int64_t y0, int64_t x0, int64_t h, int64_t w) {
  int64_t bc = t.size(0) * t.size(1), H = t.size(2), W = t.size(3);
  Tensor out = Tensor::empty(DType::F32, {t.size(0), t.size(1), h, w});
  for (int64_t p = 0; p < bc; ++p)
    for (int64_t y = 0; y < h; ++y)
      for (int64_t x = 0; x < w; ++x) out.data_as<float>()[(p * h + y) * w + x] = t.data_as<float>()[(p * H + y0 + y) * W + x0 + x];
  return out;
}

// decode_tiled's statistics and placement, rebuilt by hand: the head runs
// on the whole latent, pass 1 records every tile's OWN region (overlaps
// split at their middle), pass 2 decodes the tiles with those statistics;
// exclusive pixels are one tile's decode, shared ones a convex blend.
TEST(vae_tiled_decode_places_and_blends_tiles) {
  auto m = load_tiny_sd1();
  VAE vae = VAE::bind(*m);
  Refs ref = load_refs("tiny-sd1/ref/vae.safetensors");
  Compute c;
  const Tensor& z = ref["decode.d1.z"];  // [1, 4, 16, 24]
  // One tile covers the latent: the plain decode.
  CHECK_CLOSE(vae.decode_tiled(c, z, 24, 4), ref["decode.d1.image"], "single tile");
  // tile 12, overlap 4: rows start at 0 and 4 (overlap 4..12, split at 8),
  // columns at 0, 8 and 12 (overlaps 8..12 and 12..20, split at 10 and 16).
  Tensor tiled = vae.decode_tiled(c, z, 12, 4);  // [1, 3, 128, 192]
  CHECK(tiled.shape() == (Shape{1, 3, 128, 192}));
  const int64_t ys[] = {0, 4}, xs[] = {0, 8, 12};
  const ops::Region2d own[2][3] = {{{0, 8, 0, 10}, {0, 8, 2, 8}, {0, 8, 4, 12}}, {{4, 12, 0, 10}, {4, 12, 2, 8}, {4, 12, 4, 12}}};
  CHECK_CLOSE(vae.decode_out(c, vae.decode_up(c, vae.decode_head(c, z))), ref["decode.d1.image"], "decode in three parts");
  Tensor head = vae.decode_head(c, z);  // [1, 64, 16, 24]
  GroupNormSession stats;
  Compute tc;
  tc.group_norm_stats = &stats;
  stats.begin_pass(/*record=*/true, /*apply=*/false);
  for (int ty = 0; ty < 2; ++ty)
    for (int tx = 0; tx < 3; ++tx) {
      stats.begin_tile(12, 12, own[ty][tx]);
      vae.decode_out(tc, vae.decode_up(tc, crop(head, ys[ty], xs[tx], 12, 12)));
    }
  stats.end_pass();
  stats.begin_pass(/*record=*/false, /*apply=*/true);
  stats.begin_tile(12, 12, own[0][0]);
  Tensor t00 = vae.decode_out(tc, vae.decode_up(tc, crop(head, 0, 0, 12, 12)));  // [1, 3, 96, 96]
  stats.begin_tile(12, 12, own[1][0]);
  Tensor t10 = vae.decode_out(tc, vae.decode_up(tc, crop(head, 4, 0, 12, 12)));  // rows 32..127
  // Pixels only the first tile covers are that tile's decode.
  CHECK_CLOSE(crop(tiled, 0, 0, 32, 64), crop(t00, 0, 0, 32, 64), "exclusive region of tile (0, 0)");
  // Pixels two row-tiles share are a convex blend of both.
  int bad = 0;
  for (int64_t ch = 0; ch < 3; ++ch)
    for (int64_t y = 32; y < 96; ++y)
      for (int64_t x = 0; x < 64; ++x) {
        float a = t00.data_as<float>()[(ch * 96 + y) * 96 + x];
        float b = t10.data_as<float>()[(ch * 96 + y - 32) * 96 + x];
        float o = tiled.data_as<float>()[(ch * 128 + y) * 192 + x];
        if (o < std::min(a, b) - 1e-5f || o > std::max(a, b) + 1e-5f) ++bad;
      }
  CHECK_MSG(bad == 0, "%d blended pixels outside their tiles' range", bad);
  std::printf("  tiled (12/4) vs full decode rel L2 %.3g\n", rel_err(tiled, ref["decode.d1.image"]));
  CHECK_THROWS_CODE(vae.decode_tiled(c, z, 12, 6), ErrorCode::InvalidOption);
  CHECK_THROWS_CODE(vae.decode_tiled(c, z, 4, 1), ErrorCode::InvalidOption);
}

TEST(vae_refuses_inputs_of_the_wrong_shape) {
  auto m = load_tiny_sd1();
  VAE vae = VAE::bind(*m);
  Compute c;
  CHECK_THROWS_CODE(vae.decode(c, Tensor::zeros(DType::F32, {1, 3, 8, 8})), ErrorCode::InvalidOption);
  CHECK_THROWS_CODE(vae.encode_moments(c, Tensor::zeros(DType::F32, {1, 3, 60, 64})), ErrorCode::InvalidOption);
  CHECK_THROWS_CODE(vae.encode_moments(c, Tensor::zeros(DType::F32, {1, 4, 64, 64})), ErrorCode::InvalidOption);
}

TEST(vae_with_missing_weights_is_refused) {
  auto m = load_tiny_sd1();
  m->weights.set("vae.decoder.up.1.block.1.conv2.weight", Tensor::zeros(DType::F32, {32, 31, 3, 3}));
  CHECK_THROWS_CODE(VAE::bind(*m), ErrorCode::ModelFormat);
}

TEST(sdxl_vae_scaling_factor_comes_from_config_or_family) {
  auto m = load_fixture_model("tiny-sdxl/tiny-sdxl.safetensors", {{"vae", "tiny-sdxl/diffusers/vae/config.json"}});
  CHECK(VAE::bind(*m).scaling_factor() == 0.13025f);
  CHECK(m->info.family == "sdxl");
  m->configs["vae"] = R"({"norm_num_groups": 8})";  // no scaling_factor: the family decides
  CHECK(VAE::bind(*m).scaling_factor() == 0.13025f);
  m->info.family = "sd1";
  CHECK(VAE::bind(*m).scaling_factor() == 0.18215f);
}

// The banded upsample (only a band of the 2x map alive at a time) against
// conv(upsample(x)) in one piece: bands of 12 rows over 40 (first, middle and
// a short last band; padding only at the map's edges), batch 2, odd width.
TEST(banded_upsample_matches_the_whole_map) {
  Upsample up;
  up.conv.w = ktest::rand_tensor({8, 8, 3, 3}, 11, 0.3f);  // [C, C, 3, 3]
  up.conv.b = ktest::rand_tensor({8}, 12);                 // [C]
  up.conv.stride = 1;
  up.conv.pad = 1;
  Tensor x = ktest::rand_tensor({2, 8, 20, 19}, 13);  // [B, C, H, W]
  Compute c;
  Tensor whole = ops::conv2d(c, ops::upsample_nearest2x(c, x), up.conv.w, &up.conv.b, 1, 1);  // [B, C, 40, 38]
  const int64_t row_bytes = 2 * 8 * 38 * 4;
  Tensor banded = up.forward_banded(c, x, row_bytes * 14);  // 12-row bands
  CHECK(banded.shape() == whole.shape());
  const double e = rel_err(banded, whole);
  CHECK_MSG(e < 1e-6, "banded vs whole rel L2 %g", e);
  CHECK(rel_err(up.forward(c, x), whole) == 0);  // small maps: one piece
}
