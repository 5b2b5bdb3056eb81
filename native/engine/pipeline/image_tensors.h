// Conversions between the pipeline's 8-bit images and the engine's tensors,
// done exactly as the reference's image processor does them.
#pragma once
#include <string>

#include "pipeline/pipeline.h"
#include "tensor/tensor.h"

namespace sd {

// RGB u8 [H, W, 3] -> [1, 3, H, W] f32 in [-1, 1] (u8 / 255 * 2 - 1).
Tensor rgb_to_tensor(const RgbImage& image);

// [B, 3, H, W] f32 (unclamped VAE output, ~[-1, 1]) -> image `index` as RGB
// u8: round(clamp(x / 2 + 0.5, 0, 1) * 255).
RgbImage tensor_to_rgb(const Tensor& images, int64_t index);

// Mask u8 [H, W] (255 = repaint) -> binarized [1, 1, H, W] f32: 1 where
// u8 >= 128 (u8 / 255 >= 0.5), else 0.
Tensor mask_to_tensor(const MaskImage& mask);

// [1, 1, H, W] -> [1, 1, H/f, W/f]: nearest downsampling, i.e. the top-left
// pixel of every f x f block (torch interpolate's default 'nearest').
Tensor mask_to_latent(const Tensor& mask, int factor);

// The image with the repaint area set to 0 (mid-gray): image * (mask < 0.5).
Tensor masked_image(const Tensor& image, const Tensor& mask);

// A cheap preview of latents [B, 4, h, w] (image `index`): a fixed linear map
// of the 4 channels to RGB per family, at latent resolution.
RgbImage latent_preview(const Tensor& latents, int64_t index, const std::string& family);

// True if any element is NaN or infinite.
bool has_non_finite(const Tensor& t);

}  // namespace sd
