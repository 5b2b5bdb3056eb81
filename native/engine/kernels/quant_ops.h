// Internal: ops::linear / ops::conv2d for block-quantized weights (the ops
// route here when the weight's dtype is quantized). Linear and 1x1 convs
// run the integer GEMM (quant_gemm.h) where quant_gemm_preferred() says it
// is faster; 3x3 convs go to conv2d_impl, which picks the integer GEMM over
// im2col (stride 2, tiny maps), Winograd on the blocks directly (it decodes
// one weight-transform block at a time) or the f32 im2col GEMM (blocks
// decoded in its packing); formats the integer GEMM does not prefer take
// the f32 paths, decoding inside them.
#pragma once
#include "kernels/ops.h"

namespace sd {
namespace kern {

Tensor linear_quantized(Compute& c, const Tensor& x, const Tensor& w, const Tensor* b);
Tensor conv2d_quantized(Compute& c, const Tensor& x, const Tensor& w, const Tensor* b, int stride, int pad_top, int pad_left,
                        int pad_bottom, int pad_right);
// f32 copy of a block-quantized (or float) weight, from the Compute's arena.
Tensor dequantize_weight(Compute& c, const Tensor& w);

// The bodies of ops::linear / ops::conv2d without their op timers, so a
// quantized op that falls back to them is timed once. linear_impl takes
// f32/f16/bf16 weights; conv2d_impl also block-quantized 3x3 stride-1 ones.
Tensor linear_impl(Compute& c, const Tensor& x, const Tensor& w, const Tensor* b);
Tensor conv2d_impl(Compute& c, const Tensor& x, const Tensor& w, const Tensor* b, int stride, int pad_top, int pad_left, int pad_bottom,
                   int pad_right);

}  // namespace kern
}  // namespace sd
