// Internal: the register-tiled GEMM micro-kernel, written once over an ISA
// traits class (V = vector of W floats; load/store/broadcast/fma) and
// instantiated per ISA (AVX2 6x16, AVX-512 14x32), so the code the AVX-512
// path runs is the same source the AVX2 tests exercise.
#pragma once
#include <cstdint>

namespace sd {
namespace kern {

// c[i*ldc + j] (i < m, j < n) = (acc ? c : 0) + sum_k a[k*AS + i] * b[k*NR + j]
// with NR = NV * Ops::W; a/b are packed micro-panels. AS (default MR) is the
// A panel width: a kernel with fewer rows than the panels were packed for
// (AS > MR) serves short row tails without computing the missing rows.
template <class Ops, int MR, int NV, int AS = MR>
void gemm_ukernel_t(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, int m, int n, bool acc) {
  using V = typename Ops::V;
  constexpr int W = Ops::W, NR = NV * W;
  // Fully unrolled so the accumulators live in registers.
  V r[MR][NV];
#pragma GCC unroll 32
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) r[i][v] = Ops::zero();
  for (int64_t k = 0; k < kc; ++k) {
    V bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) bv[v] = Ops::load(b + v * W);
#pragma GCC unroll 32
    for (int i = 0; i < MR; ++i) {
      const V ai = Ops::broadcast(a + i);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) r[i][v] = Ops::fma(ai, bv[v], r[i][v]);
    }
    a += AS;
    b += NR;
  }
  if (m == MR && n == NR) {
#pragma GCC unroll 32
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) {
        float* p = c + i * ldc + v * W;
        Ops::store(p, acc ? Ops::add(Ops::load(p), r[i][v]) : r[i][v]);
      }
    return;
  }
  alignas(64) float t[MR][NR];
#pragma GCC unroll 32
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) Ops::store(t[i] + v * W, r[i][v]);
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) c[i * ldc + j] = acc ? c[i * ldc + j] + t[i][j] : t[i][j];
}

}  // namespace kern
}  // namespace sd
