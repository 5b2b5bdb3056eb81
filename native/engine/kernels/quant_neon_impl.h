// Internal: the NEON integer GEMM kernels (quant_table.h contracts) written
// once over a policy Dot whose dot_lane adds the four s8 x s8 products of
// each 4-byte group into its i32 lane, instantiated by quant_neon.cpp (baseline ARMv8.0
// NEON: widening multiplies) and quant_neon_dotprod.cpp (SDOT, built with
// +dotprod). Everything here has internal linkage: the two files are
// compiled for different ISAs and must not share an out-of-line copy.
#pragma once
#include <arm_neon.h>

#include <cstdint>

#include "kernels/quant_table.h"

namespace sd {
namespace kern {
namespace {  // internal linkage: one copy per ISA file (see above)

// Panel path, step T of a block: weight vector T holds bytes 4T..4T+3 of
// columns 0..3 (low half) and 4..7 (high half); activation group T is lane
// T % 4 of the row's T / 4-th 16 bytes.
template <class Dot, int T>
inline void panel_step(const int8_t* wb, const int8x16_t (&x)[4][2], int32x4_t (&s)[4][2]) {
  const int8x16_t w0 = vld1q_s8(wb + T * 32), w1 = vld1q_s8(wb + T * 32 + 16);
  for (int r = 0; r < 4; ++r) {
    s[r][0] = Dot::template dot_lane<T % 4>(s[r][0], w0, x[r][T / 4]);
    s[r][1] = Dot::template dot_lane<T % 4>(s[r][1], w1, x[r][T / 4]);
  }
}

// Activation bytes u = q + 128 (the driver quantizes with qmax = 127) go
// back to q with an XOR; the weights' corr is 128 * sum(codes) (the
// pack_panel contract), so sum(u * w) - corr = sum(q * w) exactly and the
// products run signed x signed without reading corr.
template <class Dot, bool Off>
void panel_4x8_t(int64_t nb, const uint8_t* const* xu, const float* const* xd, const QPanel& w, float* out) {
  const uint8x16_t flip = vdupq_n_u8(0x80);
  float32x4_t acc[4][2];  // [row][columns 0..3 | 4..7]
  for (auto& a : acc) a[0] = a[1] = vdupq_n_f32(0.f);
  for (int64_t b = 0; b < nb; ++b) {
    int8x16_t x[4][2];  // [row][values 0..15 | 16..31] of block b
    for (int r = 0; r < 4; ++r)
      for (int h = 0; h < 2; ++h) x[r][h] = vreinterpretq_s8_u8(veorq_u8(vld1q_u8(xu[r] + b * 32 + 16 * h), flip));
    int32x4_t s[4][2];  // exact block sums [row][half]
    for (auto& v : s) v[0] = v[1] = vdupq_n_s32(0);
    const int8_t* wb = w.q + b * 256;
    panel_step<Dot, 0>(wb, x, s);
    panel_step<Dot, 1>(wb, x, s);
    panel_step<Dot, 2>(wb, x, s);
    panel_step<Dot, 3>(wb, x, s);
    panel_step<Dot, 4>(wb, x, s);
    panel_step<Dot, 5>(wb, x, s);
    panel_step<Dot, 6>(wb, x, s);
    panel_step<Dot, 7>(wb, x, s);
    for (int h = 0; h < 2; ++h) {
      const float32x4_t wd = vld1q_f32(w.d + b * 8 + 4 * h);
      for (int r = 0; r < 4; ++r) acc[r][h] = vfmaq_f32(acc[r][h], vcvtq_f32_s32(s[r][h]), vmulq_n_f32(wd, xd[r][b]));
      if (Off) {  // + off * d_x * sum(q_x) per block
        const float32x4_t wo = vld1q_f32(w.off + b * 8 + 4 * h);
        for (int r = 0; r < 4; ++r) acc[r][h] = vfmaq_n_f32(acc[r][h], wo, xd[r][nb + b]);
      }
    }
  }
  for (int r = 0; r < 4; ++r) {
    vst1q_f32(out + r * 8, acc[r][0]);
    vst1q_f32(out + r * 8 + 4, acc[r][1]);
  }
}

// Every depth: the products are exact in i32 on both policies.
template <class Dot>
void panel_4x8_any(int64_t nb, int /*depth*/, const uint8_t* const* xu, const float* const* xd, const QPanel& w, float* out) {
  if (w.off)
    panel_4x8_t<Dot, true>(nb, xu, xd, w, out);
  else
    panel_4x8_t<Dot, false>(nb, xu, xd, w, out);
}

}  // namespace
}  // namespace kern
}  // namespace sd
