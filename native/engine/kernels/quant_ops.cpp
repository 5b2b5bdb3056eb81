#include "kernels/quant_ops.h"

#include "kernels/op_checks.h"
#include "kernels/quant_gemm.h"
#include "kernels/quant_table.h"
#include "tensor/thread_pool.h"

namespace sd {
namespace kern {

Tensor dequantize_weight(Compute& c, const Tensor& w) {
  require(w.is_contiguous() && w.dim() >= 1, "dequantize", "weight must be contiguous");
  const int64_t rows = w.size(0), cols = rows ? w.numel() / rows : 0;
  require(cols % dtype_block_size(w.dtype()) == 0, "dequantize",
          std::string(dtype_name(w.dtype())) + " weight " + shape_str(w.shape()) + " rows are not whole blocks");
  Tensor f = new_tensor(c, w.shape());  // same shape as w, f32
  const int64_t row_bytes = dtype_bytes_for(w.dtype(), cols);
  const QuantTable& qt = quant_table();
  parallel_for(c.pool, rows, 16, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r)
      qt.dequantize(w.dtype(), static_cast<const uint8_t*>(w.data()) + r * row_bytes, cols, f.data_as<float>() + r * cols);
  });
  return f;
}

Tensor linear_quantized(Compute& c, const Tensor& x, const Tensor& w, const Tensor* b) {
  const char* op = "linear";
  require_act(x, op, "x");
  require(w.dim() == 2 && w.is_contiguous(), op, "weight must be [N, K], got " + shape_str(w.shape()));
  // Not the integer GEMM: the f32 GEMM decodes the blocks inside its packing
  // (as it converts f16), so no f32 copy of the weight is made.
  if (!quant_gemm_preferred(w.dtype(), w.size(1))) return linear_impl(c, x, w, b);
  require(x.dim() >= 1 && x.size(-1) == w.size(1), op, "x " + shape_str(x.shape()) + " does not match weight " + shape_str(w.shape()));
  const int64_t N = w.size(0), K = w.size(1), M = K ? x.numel() / K : 0;
  std::vector<float> bias;
  if (b) bias = param_f32(*b, op, "bias", N);
  Shape os = x.shape();
  os.back() = N;
  Tensor y = new_tensor(c, os);  // [..., N]
  quant_gemm(c, M, N, K, x.data_as<float>(), K, 1, w.data(), w.dtype(), y.data_as<float>(), N, 1, b ? bias.data() : nullptr);
  return y;
}

}  // namespace kern
}  // namespace sd
