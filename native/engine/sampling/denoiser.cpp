#include "sampling/denoiser.h"

#include <cmath>

#include "core/error.h"

namespace sd {

Prediction parse_prediction(const std::string& name) {
  if (name == "epsilon" || name == "eps") return Prediction::Epsilon;
  if (name == "v" || name == "v_prediction") return Prediction::V;
  fail(ErrorCode::InvalidOption, "unknown prediction type '" + name + "' (epsilon, v)");
}

Denoiser::Denoiser(ModelFn model, const ModelSchedule& schedule, Prediction prediction, float cfg_scale)
    : model_(std::move(model)), schedule_(schedule), prediction_(prediction), cfg_scale_(cfg_scale) {
  if (!std::isfinite(cfg_scale)) fail(ErrorCode::InvalidOption, "cfg_scale must be finite");
}

void Denoiser::operator()(const Tensor& x, float sigma, Tensor& denoised) {
  (*this)(x, sigma, float(schedule_.sigma_to_t(sigma)), denoised);
}

void Denoiser::operator()(const Tensor& x, float sigma, float t, Tensor& denoised) {
  if (x.dim() != 4 || x.dtype() != DType::F32) fail(ErrorCode::Internal, "denoiser: x must be f32 [B, C, H, W]");
  const int64_t B = x.size(0), n = x.numel();  // n = B*C*H*W
  const int64_t rows = guided() ? 2 * B : B;
  Shape in_shape = x.shape();
  in_shape[0] = rows;
  if (x_in_.shape() != in_shape) {
    x_in_ = Tensor::empty(DType::F32, in_shape);
    out_ = Tensor::empty(DType::F32, in_shape);
  }
  // c_in = 1 / sqrt(sigma^2 + 1): the variance-preserving input the U-Net was trained on.
  const float c_in = 1.0f / std::sqrt(sigma * sigma + 1.0f);
  const float* xp = x.data_as<float>();
  float* in = x_in_.data_as<float>();
  for (int64_t i = 0; i < n; ++i) in[i] = xp[i] * c_in;
  if (guided())
    for (int64_t i = 0; i < n; ++i) in[n + i] = in[i];

  model_(x_in_, t, out_);

  const float* o = out_.data_as<float>();
  float* d = denoised.data_as<float>();
  const float g = cfg_scale_;
  const float c_skip = 1.0f / (sigma * sigma + 1.0f);  // v-prediction: x0 = c_skip*x + c_out*v
  const float c_out = -sigma / std::sqrt(sigma * sigma + 1.0f);
  for (int64_t i = 0; i < n; ++i) {
    // CFG in fp32 as the reference: uncond + g * (cond - uncond).
    float m = guided() ? o[i] + g * (o[n + i] - o[i]) : o[i];
    d[i] = prediction_ == Prediction::Epsilon ? xp[i] - sigma * m : c_skip * xp[i] + c_out * m;
  }
}

}  // namespace sd
