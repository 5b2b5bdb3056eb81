// Internal: GEMM with block-quantized weights where the dot products run in
// integers. Activations are quantized on the fly to 8 bits per block of 32,
// weights are packed once per call into 8-column panels of int8 codes with
// a per-32 scale (and offset), and each output is sum_b d_w*d_x*isum_b
// (+ o_w*s_x) accumulated in f32 (quant_table.h). Formats with 16-value
// sub-blocks (q2_K, q3_K, q6_K) are not taken: callers dequantize those.
#pragma once
#include <cstdint>

#include "kernels/ops.h"
#include "tensor/dtype.h"

namespace sd {
namespace kern {

// q8_0, q4_0, q4_1, q5_0, q5_1, q4_K, q5_K.
bool quant_gemm_takes(DType t);

// Whether ops should use the integer GEMM for these weights rather than
// dequantizing them and running the f32 GEMM: q4_0, q5_0, q4_1, q5_1, q4_K
// and q5_K for any K of whole blocks, q8_0 likewise but only with exact
// 8-bit products (VNNI, AVX-VNNI, NEON; on plain AVX2 its 8x8-bit products
// need the i16 widening step per pair and run no faster than f32 FMA).
bool quant_gemm_preferred(DType t, int64_t K);

// Y_i(m, n) = sum_k X_i(m, k) * W[n, k] (+ bias_n[n]) for m < M, n < N and
// each of `batch` items i, all against one unpacking of W.
// X: f32, element (m, k) of item i at x[i * xs_b + m * xs_m + k * xs_k];
// W: [N, K] row-major in dtype wt (K a multiple of its block size);
// Y_i(m, n) written at y[i * ys_b + m * ys_m + n * ys_n]. Bit-identical for
// any thread count.
void quant_gemm(Compute& c, int64_t M, int64_t N, int64_t K, const float* x, int64_t xs_m, int64_t xs_k, const void* w, DType wt, float* y,
                int64_t ys_m, int64_t ys_n, const float* bias_n, int64_t batch = 1, int64_t xs_b = 0, int64_t ys_b = 0);

}  // namespace kern
}  // namespace sd
