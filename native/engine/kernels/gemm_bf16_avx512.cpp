// The bf16 GEMM micro-kernels (gemm_bf16.h contract) on vdpbf16ps: each zmm
// lane holds one output column and takes one bf16 pair per instruction, so a
// 14x32 tile is 28 accumulators, 2 B loads and 14 pair broadcasts per pair.
// Built with the AVX-512 flags (file name); used only with AVX-512 BF16.
#include "kernels/gemm_bf16.h"
#include "tensor/cpu_features.h"

#if defined(SD_X86_DISPATCH) && defined(__GNUC__)
#include "kernels/simd_avx512.h"

namespace sd {
namespace kern {
namespace {

constexpr int kMr = 14, kNr = 32, kMrShort = 7;

// MR rows x NV*16 columns over A panels AS pairs wide (AS > MR: row tails).
template <int MR, int NV, int AS = MR>
void ukernel_t(int64_t kp, const uint32_t* a, const uint32_t* b, float* c, int64_t ldc, int m, int n, bool acc) {
  constexpr int NR = NV * 16;
  __m512 r[MR][NV];
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) r[i][v] = _mm512_setzero_ps();
  for (int64_t p = 0; p < kp; ++p) {
    __m512bh bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) bv[v] = (__m512bh)_mm512_loadu_si512(b + v * 16);
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      const __m512bh ai = (__m512bh)_mm512_set1_epi32(int(a[i]));
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) r[i][v] = _mm512_dpbf16_ps(r[i][v], ai, bv[v]);
    }
    a += AS;
    b += NR;
  }
  if (m == MR && n == NR) {
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) {
        float* q = c + i * ldc + v * 16;
        _mm512_storeu_ps(q, acc ? _mm512_add_ps(_mm512_loadu_ps(q), r[i][v]) : r[i][v]);
      }
    return;
  }
  alignas(64) float t[MR][NR];
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) _mm512_store_ps(t[i] + v * 16, r[i][v]);
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) c[i * ldc + j] = acc ? c[i * ldc + j] + t[i][j] : t[i][j];
}

void ukernel(int64_t kp, const uint32_t* a, const uint32_t* b, float* c, int64_t ldc, int m, int n, bool acc) {
  ukernel_t<kMr, kNr / 16>(kp, a, b, c, ldc, m, n, acc);
}

void ukernel_short(int64_t kp, const uint32_t* a, const uint32_t* b, float* c, int64_t ldc, int m, int n, bool acc) {
  ukernel_t<kMrShort, kNr / 16, kMr>(kp, a, b, c, ldc, m, n, acc);
}

}  // namespace

const Bf16Kernel* bf16_avx512_kernel() {
  static const Bf16Kernel k{"avx512-bf16", kMr, kNr, kMrShort, ukernel, ukernel_short};
  return cpu_features().avx512bf16 && cpu_path_supported(CpuPath::Avx512) ? &k : nullptr;
}

}  // namespace kern
}  // namespace sd

#else
namespace sd {
namespace kern {
const Bf16Kernel* bf16_avx512_kernel() { return nullptr; }
}  // namespace kern
}  // namespace sd
#endif
