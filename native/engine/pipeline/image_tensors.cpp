#include "pipeline/image_tensors.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace sd {

Tensor rgb_to_tensor(const RgbImage& image) {
  const int64_t h = image.height, w = image.width;
  if (h <= 0 || w <= 0 || int64_t(image.data.size()) != h * w * 3)
    fail(ErrorCode::InvalidOption, "image data does not match its size " + std::to_string(w) + "x" + std::to_string(h));
  Tensor t = Tensor::empty(DType::F32, {1, 3, h, w});  // [1, 3, H, W]
  float* out = t.data_as<float>();
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x)
      for (int64_t ch = 0; ch < 3; ++ch) out[(ch * h + y) * w + x] = float(image.data[size_t((y * w + x) * 3 + ch)]) / 255.0f * 2.0f - 1.0f;
  return t;
}

RgbImage tensor_to_rgb(const Tensor& images, int64_t index) {
  const int64_t h = images.size(2), w = images.size(3);
  RgbImage img;
  img.width = int(w);
  img.height = int(h);
  img.data.resize(size_t(h * w * 3));
  const float* src = images.data_as<float>() + index * 3 * h * w;
  for (int64_t ch = 0; ch < 3; ++ch)
    for (int64_t y = 0; y < h; ++y)
      for (int64_t x = 0; x < w; ++x) {
        float v = std::clamp(src[(ch * h + y) * w + x] / 2.0f + 0.5f, 0.0f, 1.0f);
        img.data[size_t((y * w + x) * 3 + ch)] = uint8_t(std::lround(v * 255.0f));
      }
  return img;
}

Tensor mask_to_tensor(const MaskImage& mask) {
  const int64_t h = mask.height, w = mask.width;
  if (h <= 0 || w <= 0 || int64_t(mask.data.size()) != h * w)
    fail(ErrorCode::InvalidOption, "mask data does not match its size " + std::to_string(w) + "x" + std::to_string(h));
  Tensor t = Tensor::empty(DType::F32, {1, 1, h, w});  // [1, 1, H, W]
  float* out = t.data_as<float>();
  for (int64_t i = 0; i < h * w; ++i) out[i] = mask.data[size_t(i)] >= 128 ? 1.0f : 0.0f;
  return t;
}

Tensor mask_to_latent(const Tensor& mask, int factor) {
  const int64_t h = mask.size(2) / factor, w = mask.size(3) / factor, W = mask.size(3);
  Tensor t = Tensor::empty(DType::F32, {1, 1, h, w});  // [1, 1, H/f, W/f]
  const float* src = mask.data_as<float>();
  float* out = t.data_as<float>();
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x) out[y * w + x] = src[(y * factor) * W + x * factor];
  return t;
}

Tensor masked_image(const Tensor& image, const Tensor& mask) {
  const int64_t hw = image.size(2) * image.size(3);
  Tensor t = Tensor::empty(DType::F32, image.shape());  // [1, 3, H, W]
  const float* src = image.data_as<float>();
  const float* m = mask.data_as<float>();
  float* out = t.data_as<float>();
  for (int64_t ch = 0; ch < image.size(1); ++ch)
    for (int64_t i = 0; i < hw; ++i) out[ch * hw + i] = m[i] < 0.5f ? src[ch * hw + i] : 0.0f;
  return t;
}

RgbImage latent_preview(const Tensor& latents, int64_t index, const std::string& family) {
  // Published latent-to-RGB approximations (rows: latent channel, cols: R, G, B).
  static const float kSd1[4][3] = {
      {0.3512f, 0.2297f, 0.3227f}, {0.3250f, 0.4974f, 0.2350f}, {-0.2829f, 0.1762f, 0.2721f}, {-0.2120f, -0.2616f, -0.7177f}};
  static const float kSdxl[4][3] = {
      {0.3920f, 0.4054f, 0.4549f}, {-0.2634f, -0.0196f, 0.0653f}, {0.0568f, 0.1687f, -0.0755f}, {-0.3112f, -0.2359f, -0.2076f}};
  const float(*m)[3] = family == "sdxl" ? kSdxl : kSd1;
  const int64_t c = latents.size(1), h = latents.size(2), w = latents.size(3);
  RgbImage img;
  img.width = int(w);
  img.height = int(h);
  img.data.resize(size_t(h * w * 3));
  const float* src = latents.data_as<float>() + index * c * h * w;
  for (int64_t i = 0; i < h * w; ++i)
    for (int ch = 0; ch < 3; ++ch) {
      float v = 0;
      for (int64_t k = 0; k < std::min<int64_t>(c, 4); ++k) v += src[k * h * w + i] * m[k][ch];
      img.data[size_t(i * 3 + ch)] = uint8_t(std::lround(std::clamp((v + 1.0f) / 2.0f, 0.0f, 1.0f) * 255.0f));
    }
  return img;
}

bool has_non_finite(const Tensor& t) {
  const float* p = t.data_as<float>();
  const int64_t n = t.numel();
  for (int64_t i = 0; i < n; ++i)
    if (!std::isfinite(p[i])) return true;
  return false;
}

}  // namespace sd
