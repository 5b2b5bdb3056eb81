// Internal GEMM used by linear, conv2d (1x1, Winograd, im2col) and attention.
// Operands are strided views in f32 / f16 / bf16, or rows of whole
// quantization blocks (depth contiguous: weights as A, or B(k, n) = w[n, k]);
// both are converted to f32 inside the packing (no full f32 copy of f16 or
// quantized weights), then a packed,
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

// Layout of an A operand packed for gemm_packed() over all of K: depth
// blocks of kc_full (as gemm() uses), each holding `panels` micro-panels
// [kc][mr]. Valid only for the CPU path it was made for.
struct PackedA {
  int64_t M, K, mr, kc_full, panels;
  int64_t size() const { return panels * mr * ((K + kc_full - 1) / kc_full) * kc_full; }  // floats
  // Offset of the depth block holding k (k a multiple of kc_full), or of
  // element (m, k) in general.
  int64_t offset(int64_t m, int64_t k) const;
};
PackedA packed_a_layout(int64_t M, int64_t K);  // for the current path

// Lower-level pieces for kernels that reuse packed operands (attention).
// Micro-panel sizes of the current path.
int gemm_mr();
int gemm_nr();
// Packs A rows [r0, r0 + rows) x depth [k0, k0 + kc), times `scale`, into
// ceil(rows / mr) micro-panels [kc][mr] at dst (zero-padded rows).
void pack_a(const MatView& A, int64_t r0, int64_t rows, int64_t k0, int64_t kc, float* dst, float scale = 1.f);
// Packs B columns [c0, c0 + cols) x depth [k0, k0 + kc), times `scale`,
// into ceil(cols / nr) micro-panels [kc][nr] at dst (zero-padded columns).
void pack_b(const MatView& B, int64_t c0, int64_t cols, int64_t k0, int64_t kc, float* dst, float scale = 1.f);
// C[M, N] = (acc ? C : 0) + packed A [M, kc] @ packed B [kc, N]. A last row
// tile of at most mr_short rows runs the short micro-kernel (same sums).
void gemm_packed(int64_t M, int64_t N, int64_t kc, const float* pa, const float* pb, float* C, int64_t ldc, bool acc);

}  // namespace kern
}  // namespace sd
