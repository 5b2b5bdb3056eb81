// AVX-512 VNNI integer dot product (quant_table.h contract): vpdpbusd adds
// four u8 x s8 products straight into each i32 lane (no i16 step, no
// saturation), on 256-bit vectors so the interleaved groups map one-to-one;
// signed q8_0 weights use |w| x sign(x, w). Used only when the CPU has
// AVX-512 VNNI; otherwise the AVX-512 path keeps the AVX2 kernel.
#include "kernels/quant_table.h"

#if defined(SD_X86_DISPATCH)
#include <immintrin.h>

namespace sd {
namespace kern {
namespace {

inline float hsum(__m256 v) {
  const __m128 a = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 b = _mm_add_ps(a, _mm_movehl_ps(a, a));
  return _mm_cvtss_f32(_mm_add_ss(b, _mm_shuffle_ps(b, b, 1)));
}

template <bool Signed>
void dot_1x4_t(int64_t groups, const QRow& w, bool has_min, const QRow* x, float* out) {
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  for (int64_t g = 0; g < groups; ++g) {
    const int8_t* wq = w.q + g * 256;
    __m256i s32[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256()};
    for (int t = 0; t < 8; ++t) {
      const __m256i wv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wq + t * 32));
      const __m256i aw = Signed ? _mm256_abs_epi8(wv) : wv;
      for (int j = 0; j < 4; ++j) {
        __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[j].q + g * 256 + t * 32));
        if (Signed) xv = _mm256_sign_epi8(xv, wv);
        s32[j] = _mm256_dpbusd_epi32(s32[j], aw, xv);
      }
    }
    const __m256 wd = _mm256_loadu_ps(w.d + g * 8);
    for (int j = 0; j < 4; ++j) {
      const __m256 sc = _mm256_mul_ps(wd, _mm256_loadu_ps(x[j].d + g * 8));
      acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s32[j]), sc, acc[j]);
      if (has_min) acc[j] = _mm256_fmadd_ps(_mm256_loadu_ps(w.ms + g * 8), _mm256_loadu_ps(x[j].ms + g * 8), acc[j]);
    }
  }
  for (int j = 0; j < 4; ++j) out[j] = hsum(acc[j]);
}

void dot_1x4(int64_t groups, const QRow& w, bool signed_w, bool has_min, const QRow* x, float* out) {
  if (signed_w)
    dot_1x4_t<true>(groups, w, has_min, x, out);
  else
    dot_1x4_t<false>(groups, w, has_min, x, out);
}

}  // namespace

const QuantTable* quant_avx512_table() {
  if (!__builtin_cpu_supports("avx512vnni")) return nullptr;
  static const QuantTable t{"avx512-vnni", dot_1x4};
  return &t;
}

}  // namespace kern
}  // namespace sd

#else
namespace sd {
namespace kern {
const QuantTable* quant_avx512_table() { return nullptr; }
}  // namespace kern
}  // namespace sd
#endif
