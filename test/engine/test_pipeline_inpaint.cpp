// Inpainting by construction (ordinary 4-channel model, masked latent
// blending): an all-black mask repaints nothing, so the result is the init
// image's VAE round trip (posterior sample drawn first from the generator, as
// diffusers does); with half the image masked, the kept half stays there.
#define SD_TEST_MAIN
#include <cmath>
#include <cstring>

#include "harness.h"
#include "io/model_loader.h"
#include "models/vae.h"
#include "null_callbacks.h"
#include "pipeline/generate_internal.h"
#include "pipeline/image_tensors.h"
#include "sampling/rng_torch.h"

using namespace sd;

namespace {

// A smooth RGB test picture.
RgbImage picture(int w, int h) {
  RgbImage img;
  img.width = w;
  img.height = h;
  img.data.resize(size_t(w * h * 3));
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c) img.data[size_t((y * w + x) * 3 + c)] = uint8_t(128 + 100 * std::sin(0.1 * x + 0.07 * y + 2.0 * c));
  return img;
}

PromptTokens empty_prompt() {
  PromptTokens p;
  TokenChunk c;
  c.ids.fill(49407);
  c.ids[0] = 49406;
  c.weights.fill(1.0f);
  p.chunks.push_back(c);
  return p;
}

GenerateParams params(int size, uint8_t mask_left, uint8_t mask_right) {
  GenerateParams p;
  p.prompt = p.negative_prompt = empty_prompt();
  p.width = p.height = size;
  p.steps = 4;
  p.sampler = "euler";
  p.seed = 11;
  p.strength = 1.0f;
  p.init_image = picture(size, size);
  p.mask.width = p.mask.height = size;
  p.mask.data.resize(size_t(size * size));
  for (int y = 0; y < size; ++y)
    for (int x = 0; x < size; ++x) p.mask.data[size_t(y * size + x)] = x < size / 2 ? mask_left : mask_right;
  return p;
}

double mad(const RgbImage& a, const RgbImage& b, int x0, int x1) {
  double s = 0;
  int n = 0;
  for (int y = 0; y < a.height; ++y)
    for (int x = x0; x < x1; ++x)
      for (int c = 0; c < 3; ++c, ++n) {
        size_t i = size_t((y * a.width + x) * 3 + c);
        s += std::fabs(double(a.data[i]) - double(b.data[i]));
      }
  return s / n;
}

}  // namespace

TEST(all_black_mask_returns_the_init_images_vae_round_trip) {
  auto model = load_model(sdtest::fixture("tiny-sd1/diffusers"), {});
  GenerateParams p = params(64, 0, 0);
  sdtest::NullCallbacks cb;
  GenerateResult r;
  run_generate(*model, p, cb, &r);

  // Expected: decode(posterior sample of the init image), the sample drawn first.
  Compute c;
  VAE vae = VAE::bind(*model);
  VaePosterior post = vae.encode(c, rgb_to_tensor(p.init_image));
  TorchGenerator gen(p.seed);
  Tensor noise = Tensor::empty(DType::F32, post.mean.shape());
  gen.randn(noise.data_as<float>(), noise.numel());
  RgbImage want = tensor_to_rgb(vae.decode(c, post.sample(noise)), 0);
  double e = mad(r.images.at(0), want, 0, 64);
  CHECK_MSG(e <= 1.0, "image vs VAE round trip: mean abs diff %.3f", e);
}

TEST(the_unmasked_half_keeps_the_init_latents) {
  // Checked on the latents: the VAE decoder's mid-block attention is global,
  // so in pixels a repainted region shifts every pixel a little.
  auto model = load_model(sdtest::fixture("tiny-sd1/diffusers"), {});
  sdtest::NullCallbacks cb;
  GenerateResult r1, r2;
  Tensor keep_all, repaint_right;  // [1, 4, 8, 8]
  TorchRandomSource rng1(11), rng2(11);
  generate_with(*model, params(64, 0, 0), cb, rng1, &r1, &keep_all);
  generate_with(*model, params(64, 0, 255), cb, rng2, &r2, &repaint_right);
  const int64_t h = keep_all.size(2), w = keep_all.size(3);
  double kept = 0, repainted = 0;
  for (int64_t ch = 0; ch < keep_all.size(1); ++ch)
    for (int64_t y = 0; y < h; ++y)
      for (int64_t x = 0; x < w; ++x) {
        int64_t i = (ch * h + y) * w + x;
        double d = std::fabs(double(keep_all.data_as<float>()[i]) - double(repaint_right.data_as<float>()[i]));
        (x < w / 2 ? kept : repainted) = std::fmax(x < w / 2 ? kept : repainted, d);
      }
  CHECK_MSG(kept <= 1e-6, "kept latents moved by %.3g", kept);
  CHECK_MSG(repainted > 0.1, "repainted latents barely changed (%.3g)", repainted);
}
