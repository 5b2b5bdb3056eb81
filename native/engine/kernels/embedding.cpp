// ops::timestep_embedding: sinusoidal embedding as diffusers'
// get_timestep_embedding computes it (f32 arithmetic throughout).
#include <cmath>

#include "kernels/op_checks.h"
#include "kernels/ops.h"

namespace sd {
namespace ops {

Tensor timestep_embedding(const Tensor& t, int dim, bool flip_sin_to_cos, float freq_shift, float max_period) {
  const char* op = "timestep_embedding";
  kern::require(t.dim() == 1, op, "t must be [B], got " + shape_str(t.shape()));
  kern::require(dim >= 2, op, "dim must be >= 2");
  const int64_t B = t.size(0), half = dim / 2;
  Tensor tf = t.dtype() == DType::F32 ? t : t.to_f32();
  Tensor y = Tensor::zeros(DType::F32, {B, dim});  // [B, dim]; odd dim leaves a zero last column
  const float* tp = tf.data_as<float>();
  float* yp = y.data_as<float>();
  const float neg_log = -float(std::log(double(max_period)));
  for (int64_t i = 0; i < half; ++i) {
    // exponent = -log(max_period) * i / (half - freq_shift)
    const float freq = std::exp(neg_log * float(i) / (float(half) - freq_shift));
    for (int64_t b = 0; b < B; ++b) {
      const float arg = tp[b] * freq;
      const float s = std::sin(arg), co = std::cos(arg);
      yp[b * dim + i] = flip_sin_to_cos ? co : s;
      yp[b * dim + half + i] = flip_sin_to_cos ? s : co;
    }
  }
  return y;
}

}  // namespace ops
}  // namespace sd
