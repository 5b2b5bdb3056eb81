// Internal: the VNNI integer GEMM kernels (quant_table.h contracts) written
// once over a policy Dp whose dpbusd(acc, u, s) adds the four u8 x s8
// products of each 4-byte group straight into its i32 lane (no i16 step, no
// saturation, so the panel path ignores `depth`), on 256-bit vectors so the
// layouts map one-to-one. Instantiated by quant_avx512.cpp (AVX-512 VNNI's
// EVEX vpdpbusd, which needs AVX512VL for 256 bits) and quant_avxvnni.cpp
// (AVX-VNNI's VEX vpdpbusd: Intel Alder Lake and later, AMD Zen 5). Include
// it after the intrinsics header of the including file. Everything here has
// internal linkage: the two files are compiled for different ISAs and must
// not share an out-of-line copy.
#pragma once
#include <cstdint>
#include <cstring>

#include "kernels/quant_table.h"

namespace sd {
namespace kern {
namespace {  // internal linkage: one copy per ISA file (see above)

inline __m256i vnni_bcast4(const uint8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm256_set1_epi32(v);
}

template <class Dp, bool Off>
void vnni_panel_4x8_t(int64_t nb, const uint8_t* const* xu, const float* const* xd, const QPanel& w, float* out) {
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  for (int64_t b = 0; b < nb; ++b) {
    const int8_t* wb = w.q + b * 256;
    __m256i s32[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256()};
    for (int t = 0; t < 8; ++t) {
      const __m256i wv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wb + t * 32));
      for (int r = 0; r < 4; ++r) s32[r] = Dp::dpbusd(s32[r], vnni_bcast4(xu[r] + b * 32 + 4 * t), wv);
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

template <class Dp>
void vnni_panel_4x8(int64_t nb, int /*depth*/, const uint8_t* const* xu, const float* const* xd, const QPanel& w, float* out) {
  return w.off ? vnni_panel_4x8_t<Dp, true>(nb, xu, xd, w, out) : vnni_panel_4x8_t<Dp, false>(nb, xu, xd, w, out);
}

// The table: the VNNI dot products (exact at any depth, with offsets) and
// the AVX2 activation quantizer, q8_0 / q4_0 decoder and 4/5-bit packer.
template <class Dp>
QuantTable vnni_table(const char* name) {
  const QuantTable* avx2 = quant_avx2_table();
  return QuantTable{name, avx2->quantize_act, vnni_panel_4x8<Dp>, true, avx2->dequantize, true, avx2->pack_panel};
}

}  // namespace
}  // namespace kern
}  // namespace sd
