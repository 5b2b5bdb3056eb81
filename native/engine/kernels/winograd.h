// Internal: 3x3 stride-1 convolution by Winograd F(4x4, 3x3) (Lavin & Gray,
// 2015) in fp32: 36 element-wise products per 4x4 output tile instead of 144,
// done as 36 GEMMs [tiles, Cin] x [Cin, Cout].
#pragma once
#include <cstdint>

#include "kernels/ops.h"
#include "tensor/dtype.h"

namespace sd {

namespace kern {

// Threads and temporaries from c. x [B, Cin, H, W]; w [Cout, Cin, 3, 3] (f32/f16/bf16); bias [Cout] or null;
// y [B, Cout, Ho, Wo] with Ho = H + pt + pb - 2, Wo = W + pl + pr - 2.
void conv3x3_winograd(Compute& c, const float* x, int64_t B, int64_t Cin, int64_t H, int64_t W, const void* w, DType wt, int64_t Cout,
                      const float* bias, int pt, int pl, float* y, int64_t Ho, int64_t Wo);

}  // namespace kern
}  // namespace sd
