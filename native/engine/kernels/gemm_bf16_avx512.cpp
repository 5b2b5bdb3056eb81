// The bf16 GEMM micro-kernels (gemm_bf16.h contract) on vdpbf16ps: each zmm
// lane holds one output column and takes one bf16 pair per instruction, so a
// 14x32 tile is 28 accumulators, 2 B loads and 14 pair broadcasts per pair.
// Built with the AVX-512 flags (file name); used only with AVX-512 BF16.
#include "kernels/gemm_bf16.h"
#include "tensor/cpu_features.h"

#if defined(SD_X86_DISPATCH) && (defined(__GNUC__) || defined(__clang__))  // clang-cl too; not MSVC itself
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

// 16 f32 lanes rounded so that the high half of each u32 lane is the bf16
// (no shifts: GCC 12 warns on the undefined pass-through of vpsrld's intrinsic).
inline __m512i round_bf16_high(__m512i x) {
  const __m512i abs = _mm512_and_si512(x, _mm512_set1_epi32(0x7fffffff));
  const __mmask16 nan = _mm512_cmpgt_epi32_mask(abs, _mm512_set1_epi32(0x7f800000));
  const __mmask16 odd = _mm512_test_epi32_mask(x, _mm512_set1_epi32(0x10000));  // ties go to the even bf16
  const __m512i bias = _mm512_mask_blend_epi32(odd, _mm512_set1_epi32(0x7fff), _mm512_set1_epi32(0x8000));
  __m512i r = _mm512_mask_blend_epi32(nan, _mm512_add_epi32(x, bias), _mm512_or_si512(x, _mm512_set1_epi32(0x400000)));
  const __mmask16 sub = _mm512_cmpeq_epi32_mask(_mm512_and_si512(r, _mm512_set1_epi32(0x7f800000)), _mm512_setzero_si512());
  return _mm512_mask_blend_epi32(sub, r, _mm512_and_si512(r, _mm512_set1_epi32(int(0x80000000u))));
}

// The odd (high) u16 of the 32 u32 lanes of two vectors, in order.
alignas(64) const uint16_t kHighHalves[32] = {1,  3,  5,  7,  9,  11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31,
                                              33, 35, 37, 39, 41, 43, 45, 47, 49, 51, 53, 55, 57, 59, 61, 63};

void round_pairs(const void* src, int64_t pairs, uint32_t* dst) {
  const float* f = static_cast<const float*>(src);  // only read by unaligned loads
  const __m512i idx = _mm512_load_si512(kHighHalves);
  for (int64_t p = 0; p < pairs; p += 16) {
    const __m512i lo = round_bf16_high(_mm512_castps_si512(_mm512_loadu_ps(f + 2 * p)));
    const __m512i hi = round_bf16_high(_mm512_castps_si512(_mm512_loadu_ps(f + 2 * p + 16)));
    _mm512_storeu_si512(dst + p, _mm512_permutex2var_epi16(lo, idx, hi));
  }
}

// The high u16 of u32 lane j of the first vector, then of the second, for j = 0..15.
alignas(64) const uint16_t kHighPairs[32] = {1,  33, 3,  35, 5,  37, 7,  39, 9,  41, 11, 43, 13, 45, 15, 47,
                                             17, 49, 19, 51, 21, 53, 23, 55, 25, 57, 27, 59, 29, 61, 31, 63};

void pack_rows(const float* lo, const float* hi, int64_t n, float s, uint32_t* dst) {
  const __m512i idx = _mm512_load_si512(kHighPairs);
  const __m512 vs = _mm512_set1_ps(s);
  for (int64_t j = 0; j < n; j += 16) {
    const __m512i l = round_bf16_high(_mm512_castps_si512(_mm512_mul_ps(vs, _mm512_loadu_ps(lo + j))));
    const __m512i h = round_bf16_high(_mm512_castps_si512(_mm512_mul_ps(vs, _mm512_loadu_ps(hi + j))));
    _mm512_storeu_si512(dst + j, _mm512_permutex2var_epi16(l, idx, h));
  }
}

}  // namespace

const Bf16Kernel* bf16_avx512_kernel() {
  static const Bf16Kernel k{"avx512-bf16", kMr, kNr, kMrShort, ukernel, ukernel_short, round_pairs, pack_rows};
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
