// AVX2 integer dot product (quant_table.h contract): maddubs (u8 x s8 ->
// pairs of i16), madd with ones (-> i32 lanes); signed q8_0 weights use the
// sign trick |w| x sign(x, w). Unsigned weight codes <= 31 allow four
// maddubs results to be summed in i16 before widening (4 * 2*31*127 < 2^15).
#include "kernels/quant_table.h"

#if defined(SD_X86_DISPATCH)
#include <immintrin.h>

namespace sd {
namespace kern {
namespace {

inline float hsum(__m256 v) {
  // ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7)), as the scalar reference.
  const __m128 a = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 b = _mm_add_ps(a, _mm_movehl_ps(a, a));
  return _mm_cvtss_f32(_mm_add_ss(b, _mm_shuffle_ps(b, b, 1)));
}

template <bool Signed>
void dot_1x4_t(int64_t groups, const QRow& w, bool has_min, const QRow* x, float* out) {
  const __m256i ones = _mm256_set1_epi16(1);
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  for (int64_t g = 0; g < groups; ++g) {
    const int8_t* wq = w.q + g * 256;
    __m256i s32[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256()};
    for (int half = 0; half < 2; ++half) {
      __m256i s16[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256()};
      for (int t = half * 4; t < half * 4 + 4; ++t) {
        const __m256i wv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wq + t * 32));
        const __m256i aw = Signed ? _mm256_abs_epi8(wv) : wv;
        for (int j = 0; j < 4; ++j) {
          __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[j].q + g * 256 + t * 32));
          if (Signed) {
            xv = _mm256_sign_epi8(xv, wv);
            s32[j] = _mm256_add_epi32(s32[j], _mm256_madd_epi16(_mm256_maddubs_epi16(aw, xv), ones));
          } else {
            s16[j] = _mm256_add_epi16(s16[j], _mm256_maddubs_epi16(aw, xv));
          }
        }
      }
      if (!Signed)
        for (int j = 0; j < 4; ++j) s32[j] = _mm256_add_epi32(s32[j], _mm256_madd_epi16(s16[j], ones));
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

const QuantTable* quant_avx2_table() {
  static const QuantTable t{"avx2", dot_1x4};
  return &t;
}

}  // namespace kern
}  // namespace sd

#else
namespace sd {
namespace kern {
const QuantTable* quant_avx2_table() { return nullptr; }
}  // namespace kern
}  // namespace sd
#endif
