// Internal: ops::linear for block-quantized weights (ops::linear routes
// here when the weight's dtype is quantized): the integer GEMM
// (quant_gemm.h) where quant_gemm_preferred() says it is faster, else the
// f32 GEMM decoding the blocks inside its packing. Convolutions choose
// among the same kernels in conv2d_impl (kernels/conv2d.cpp).
#pragma once
#include "kernels/ops.h"

namespace sd {
namespace kern {

Tensor linear_quantized(Compute& c, const Tensor& x, const Tensor& w, const Tensor* b);
// f32 copy of a block-quantized (or float) weight, from the Compute's arena.
Tensor dequantize_weight(Compute& c, const Tensor& w);

// The bodies of ops::linear / ops::conv2d without their op timers, so a
// quantized op that falls back to them is timed once. linear_impl takes
// f32/f16/bf16 weights; conv2d_impl any weight, block-quantized included.
Tensor linear_impl(Compute& c, const Tensor& x, const Tensor& w, const Tensor* b);
Tensor conv2d_impl(Compute& c, const Tensor& x, const Tensor& w, const Tensor* b, int stride, int pad_top, int pad_left, int pad_bottom,
                   int pad_right);

}  // namespace kern
}  // namespace sd
