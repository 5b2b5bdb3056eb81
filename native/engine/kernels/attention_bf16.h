// Internal: ops::attention for precision "fast" (Compute::bf16): the QK^T
// and PV products on the bf16 micro-kernels (kernels/gemm_bf16.h). q, k and
// v are rounded to bf16 when packed (q after the softmax scale), the
// probabilities P after the softmax; products accumulate in f32 and the
// softmax statistics (max, sum) stay f32.
#pragma once
#include <cstdint>

#include "kernels/ops.h"

namespace sd {
namespace kern {

// The contract of ops::attention (shapes checked by the caller):
// q [B, Nq, H*D], k / v [B, Nk, H*D] (dropped once packed), out [B, Nq, H*D].
// Needs gemm_bf16_available(). Each output is independent of the thread count.
void attention_bf16(Compute& c, const float* q, Tensor k, Tensor v, int64_t B, int64_t Nq, int64_t Nk, int64_t HD, int heads, bool causal,
                    float scale, float* out);

}  // namespace kern
}  // namespace sd
