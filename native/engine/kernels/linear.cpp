// ops::linear: y = x @ w^T + b as one GEMM over all leading dims of x.
#include "kernels/gemm.h"
#include "kernels/gemm_bf16.h"
#include "kernels/op_checks.h"
#include "kernels/ops.h"
#include "kernels/quant_ops.h"

namespace sd {
namespace kern {

Tensor linear_impl(Compute& c, const Tensor& x, const Tensor& w, const Tensor* b) {
  const char* op = "linear";
  require_act(x, op, "x");
  require(w.dim() == 2, op, "weight must be [N, K], got " + shape_str(w.shape()));
  if (dtype_is_quantized(w.dtype())) {  // decoded inside the f32 GEMM's packing
    require(w.is_contiguous() && w.size(1) % dtype_block_size(w.dtype()) == 0, op,
            std::string(dtype_name(w.dtype())) + " weight " + shape_str(w.shape()) + " rows are not whole blocks");
    // The bf16 GEMM of precision "fast" packs only float weights.
    if (c.bf16 && kern::gemm_bf16_available()) return linear_impl(c, x, dequantize_weight(c, w), b);
  } else {
    require_weight(w, op, "weight");
  }
  require(x.dim() >= 1 && x.size(-1) == w.size(1), op, "x " + shape_str(x.shape()) + " does not match weight " + shape_str(w.shape()));
  const int64_t N = w.size(0), K = w.size(1), M = K ? x.numel() / K : 0;
  std::vector<float> bias;
  if (b) bias = param_f32(*b, op, "bias", N);
  Shape os = x.shape();
  os.back() = N;
  Tensor y = new_tensor(c, os);  // [..., N]
  // A = x [M, K] row-major; B(k, n) = w[n, k].
  const kern::MatView xa{x.data(), DType::F32, K, 1}, wt{w.data(), w.dtype(), 1, K};
  // precision "fast": the bf16 GEMM where this CPU path has it.
  if (c.bf16 && kern::gemm_bf16_available())
    kern::gemm_bf16(c.pool, M, N, K, xa, wt, y.data_as<float>(), N, b ? bias.data() : nullptr);
  else
    kern::gemm(c.pool, M, N, K, xa, wt, y.data_as<float>(), N, b ? bias.data() : nullptr);
  return y;
}

}  // namespace kern

namespace ops {

Tensor linear(Compute& c, const Tensor& x, const Tensor& w, const Tensor* b) {
  kern::OpTimer timer_(c, OpTimers::Linear);
  if (dtype_is_quantized(w.dtype())) return kern::linear_quantized(c, x, w, b);
  return kern::linear_impl(c, x, w, b);
}

}  // namespace ops
}  // namespace sd
