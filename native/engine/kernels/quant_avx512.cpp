// AVX-512 VNNI integer GEMM kernels (quant_table.h contracts): vpdpbusd
// adds four u8 x s8 products straight into each i32 lane (no i16 step, no
// saturation, so the panel path ignores `depth`), on 256-bit vectors so the
// layouts map one-to-one.
// Activation quantization, dequantization and 4/5-bit panel packing are the AVX2 ones. Used only when the CPU has
// AVX-512 VNNI; otherwise the AVX-512 path keeps the AVX2 kernels. The
// development machine has no VNNI: its bit-identity test runs under
// SD_NATIVE_CPU=avx512 in the SIMDe-emulated build (scripts/emulated-isa-tests.mjs).
#include "kernels/quant_table.h"
#include "tensor/cpu_features.h"

#if defined(SD_X86_DISPATCH)
#include <cstring>

#include "kernels/simd_avx512.h"

namespace sd {
namespace kern {
namespace {

inline float hsum(__m256 v) {
  const __m128 a = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 b = _mm_add_ps(a, _mm_movehl_ps(a, a));
  return _mm_cvtss_f32(_mm_add_ss(b, _mm_shuffle_ps(b, b, 1)));
}

void dot_1x4(int64_t groups, const QRow& w, const QRow* x, float* out) {
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  for (int64_t g = 0; g < groups; ++g) {
    const int8_t* wq = w.q + g * 256;
    __m256i s32[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256()};
    for (int t = 0; t < 8; ++t) {
      const __m256i wv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wq + t * 32));
      for (int j = 0; j < 4; ++j)
        s32[j] = _mm256_dpbusd_epi32(s32[j], wv, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[j].q + g * 256 + t * 32)));
    }
    const __m256 wd = _mm256_loadu_ps(w.d + g * 8);
    for (int j = 0; j < 4; ++j) {
      const __m256 sc = _mm256_mul_ps(wd, _mm256_loadu_ps(x[j].d + g * 8));
      acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s32[j]), sc, acc[j]);
      acc[j] = _mm256_fmadd_ps(_mm256_loadu_ps(w.ms + g * 8), _mm256_loadu_ps(x[j].ms + g * 8), acc[j]);
    }
  }
  for (int j = 0; j < 4; ++j) out[j] = hsum(acc[j]);
}

inline __m256i bcast4(const uint8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm256_set1_epi32(v);
}

template <bool Off>
void panel_4x8_t(int64_t nb, const uint8_t* const* xu, const float* const* xd, const QPanel& w, float* out) {
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  for (int64_t b = 0; b < nb; ++b) {
    const int8_t* wb = w.q + b * 256;
    __m256i s32[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256()};
    for (int t = 0; t < 8; ++t) {
      const __m256i wv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wb + t * 32));
      for (int r = 0; r < 4; ++r) s32[r] = _mm256_dpbusd_epi32(s32[r], bcast4(xu[r] + b * 32 + 4 * t), wv);
    }
    const __m256i corr = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w.corr + b * 8));
    const __m256 wd = _mm256_loadu_ps(w.d + b * 8);
    for (int r = 0; r < 4; ++r) {
      const __m256 sc = _mm256_mul_ps(wd, _mm256_set1_ps(xd[r][b]));
      acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(s32[r], corr)), sc, acc[r]);
    }
    if (Off) {  // + off * d_x * sum(q_x) per block, after the block's codes (as the scalar order)
      const __m256 wo = _mm256_loadu_ps(w.off + b * 8);
      for (int r = 0; r < 4; ++r) acc[r] = _mm256_fmadd_ps(wo, _mm256_set1_ps(xd[r][nb + b]), acc[r]);
    }
  }
  for (int r = 0; r < 4; ++r) _mm256_storeu_ps(out + r * 8, acc[r]);
}

void panel_4x8(int64_t nb, int /*depth*/, const uint8_t* const* xu, const float* const* xd, const QPanel& w, float* out) {
  return w.off ? panel_4x8_t<true>(nb, xu, xd, w, out) : panel_4x8_t<false>(nb, xu, xd, w, out);
}

}  // namespace

const QuantTable* quant_avx512_table() {
  if (!cpu_features().avx512vnni) return nullptr;
  const QuantTable* avx2 = quant_avx2_table();
  // offsets: q4_1 / q5_1 panels run here too; the 4/5-bit panel packer is AVX2's.
  static const QuantTable t{"avx512-vnni", dot_1x4, avx2->quantize_act, panel_4x8, true, avx2->dequantize, true, avx2->pack_panel};
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
