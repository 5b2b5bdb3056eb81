// Internal: ops::linear / ops::conv2d for block-quantized weights (the ops
// route here when the weight's dtype is quantized). Linear and 1x1 convs
// run the integer GEMM (quant_gemm.h) where quant_gemm_preferred() says it
// is faster; 3x3 convs, the other shapes and formats with 16-value
// sub-blocks dequantize the weight to f32 per call
// (an arena temporary) and take the f32 path, so 3x3 convs keep Winograd.
#pragma once
#include "kernels/ops.h"

namespace sd {
namespace kern {

Tensor linear_quantized(Compute& c, const Tensor& x, const Tensor& w, const Tensor* b);
Tensor conv2d_quantized(Compute& c, const Tensor& x, const Tensor& w, const Tensor* b, int stride, int pad_top, int pad_left,
                        int pad_bottom, int pad_right);
// f32 copy of a block-quantized (or float) weight, from the Compute's arena.
Tensor dequantize_weight(Compute& c, const Tensor& w);

}  // namespace kern
}  // namespace sd
