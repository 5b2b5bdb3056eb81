// Internal GEMM used by linear, conv2d (1x1, Winograd, im2col) and attention.
// Operands are strided views in f32 / f16 / bf16; both are converted to f32
// inside the packing (no full f32 copy of f16 weights), then a packed,
// cache-blocked driver runs the current path's register-tiled micro-kernel.
#pragma once
#include <cstdint>

#include "tensor/dtype.h"

namespace sd {

class ThreadPool;

namespace kern {

// Element (r, c) lives at data[r * rs + c * cs] (element units).
struct MatView {
  const void* data;
  DType dtype;
  int64_t rs, cs;
};

// C[M, N] (row stride ldc) = A[M, K] @ B[K, N] + bias_n[n] + bias_m[m]
// (+ the old C when accumulate). Biases are optional (nullptr). Each C
// element is reduced in a fixed order, independent of the thread count.
void gemm(ThreadPool* pool, int64_t M, int64_t N, int64_t K, const MatView& A, const MatView& B, float* C, int64_t ldc,
          const float* bias_n = nullptr, const float* bias_m = nullptr, bool accumulate = false);

}  // namespace kern
}  // namespace sd
