// Internal: 3x3 stride-1 convolution by Winograd F(4x4, 3x3) (Lavin & Gray,
// 2015) in fp32: 36 element-wise products per 4x4 output tile instead of 144,
// done as 36 GEMMs [tiles, Cin] x [Cin, Cout]; and by F(2x2, 3x3) for small
// maps (16 products per 2x2 tile instead of 36).
#pragma once
#include <cstdint>

#include "kernels/ops.h"
#include "tensor/dtype.h"

namespace sd {

namespace kern {

// Threads and temporaries from c. x [B, Cin, H, W]; w [Cout, Cin, 3, 3] (f32/f16/bf16, or block-quantized
// with rows of Cin*9 values that are whole blocks: decoded per block of the weight transform, never as a
// whole f32 copy); bias [Cout] or null; y [B, Cout, Ho, Wo] with Ho = H + pt + pb - 2, Wo = W + pl + pr - 2.
void conv3x3_winograd(Compute& c, const float* x, int64_t B, int64_t Cin, int64_t H, int64_t W, const void* w, DType wt, int64_t Cout,
                      const float* bias, int pt, int pl, float* y, int64_t Ho, int64_t Wo);

// The same convolution by Winograd F(2x2, 3x3) (16 points per 2x2 tile):
// 4x more tiles than F(4x4), so the GEMMs stay efficient and the per-call
// weight transform is amortised on small maps (U-Net's 8x8 level).
void conv3x3_winograd_f2(Compute& c, const float* x, int64_t B, int64_t Cin, int64_t H, int64_t W, const void* w, DType wt, int64_t Cout,
                         const float* bias, int pt, int pl, float* y, int64_t Ho, int64_t Wo);

}  // namespace kern
}  // namespace sd
