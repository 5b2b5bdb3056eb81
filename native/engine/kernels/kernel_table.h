// Internal: the per-ISA kernel entry points the op implementations call.
// scalar_table() is the portable reference; avx2_table()/avx512_table() are
// defined in *_avx2.cpp / *_avx512.cpp (the only files built with ISA flags)
// and return nullptr when the build has no x86 dispatch; neon_table()
// (kernels_neon.cpp) returns nullptr on every target but AArch64.
#pragma once
#include <cstdint>

#include "tensor/dtype.h"

namespace sd {
namespace kern {

// Errors the kernels raise, built in baseline code (kernel_table.cpp): an
// ISA-flagged file must not instantiate std::string itself, or the linker may
// keep its AVX2/AVX-512 copy of that shared inline code for every caller
// (scripts/check-isa-objects.mjs enforces this).
[[noreturn]] void fail_unhandled_dtype(DType t);
[[noreturn]] void fail_internal(const char* what, int64_t value);

struct Table {
  const char* name;
  // GEMM register tile: mr rows x nr columns.
  int mr, nr;
  // c[i*ldc + j] (i < m, j < n) = (acc ? c : 0) + sum_k a[k*mr + i] * b[k*nr + j]
  // a: packed A micro-panel [kc][mr]; b: packed B micro-panel [kc][nr]
  // (both zero-padded to mr / nr).
  void (*gemm_ukernel)(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, int m, int n, bool acc);
  // The same contract for m <= mr_short rows only (A panels still mr wide):
  // row tails without the FMAs of the missing rows (same sums, same order).
  int mr_short;
  void (*gemm_ukernel_short)(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, int m, int n, bool acc);
  // dst[i] = float(src[i]) for i < n, src of dtype f32/f16/bf16.
  void (*convert_to_f32)(DType t, const void* src, int64_t n, float* dst);
  // x[i] = exp(x[i] - max), returns the sum of the new x (fixed order).
  float (*exp_shift_sum)(float* x, int64_t n, float max);
  // Returns max(x[0..n)).
  float (*max_of)(const float* x, int64_t n);
  // In place: x = x * sigmoid(x); x = exact (erf) GELU of x; x = x *
  // sigmoid(1.702 x) (CLIP's quick GELU).
  void (*silu)(float* x, int64_t n);
  void (*gelu)(float* x, int64_t n);
  void (*quick_gelu)(float* x, int64_t n);
  // Attention's softmax over one block of keys, in base 2 (scores already
  // times log2(e)), on transposed scores p [rows][w] (w a multiple of 8), one
  // column per query, carrying FlashAttention's running statistics:
  //   mn = max(m[i], max_j p[j*w + i]) (0 when that is -inf),
  //   alpha[i] = 2^(m[i] - mn), p[j*w + i] = 2^(p[j*w + i] - mn),
  //   l[i] = l[i] * alpha[i] + the new column summed in row order, m[i] = mn.
  // With m = -inf and l = 0 it is the whole-column softmax numerator.
  // Scores below the column max by more than 126 may give 2^-126 instead of 0.
  void (*softmax2_cols)(float* p, int64_t rows, int64_t w, float* m, float* l, float* alpha);
  // Winograd F(4x4, 3x3) transforms (see winograd_impl.h for the contracts;
  // weights take ni x nl kernels with the nl along the lanes).
  void (*wino_weights)(const float* g, int64_t g_stride, int64_t tap_stride, int64_t ni, int64_t nl, float* u, int64_t u_stride,
                       int64_t u_xi);
  void (*wino_input)(const float* xc, int64_t H, int64_t W, int pt, int pl, int64_t tw, int64_t t0, int64_t tn, float* v, int64_t v_stride);
  void (*wino_output)(const float* m, int64_t xi_stride, int64_t n, const float* bias, float* y, int64_t plane, int64_t Wo, int rows,
                      int cols);
  // dst[c * ldd + r] = float(src[r * ld + c]) for r < rows, c < cols; src of
  // dtype f32/f16/bf16 (element strides).
  void (*transpose_f32)(DType t, const void* src, int64_t ld, int64_t rows, int64_t cols, float* dst, int64_t ldd);
  // Winograd F(2x2, 3x3): 16 points and 2x2 tiles; same contracts as the
  // wino_* entries above (winograd_impl.h, tiling F2x2).
  void (*wino2_weights)(const float* g, int64_t g_stride, int64_t tap_stride, int64_t ni, int64_t nl, float* u, int64_t u_stride,
                        int64_t u_xi);
  void (*wino2_input)(const float* xc, int64_t H, int64_t W, int pt, int pl, int64_t tw, int64_t t0, int64_t tn, float* v,
                      int64_t v_stride);
  void (*wino2_output)(const float* m, int64_t xi_stride, int64_t n, const float* bias, float* y, int64_t plane, int64_t Wo, int rows,
                       int cols);
};

const Table& scalar_table();
const Table* avx2_table();
const Table* avx512_table();
const Table* neon_table();

// The table of the current cpu_path().
const Table& table();

}  // namespace kern
}  // namespace sd
