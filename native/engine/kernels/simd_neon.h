// Internal: NEON helpers for kernels_neon.cpp (AArch64 only, where NEON is
// baseline). The same approximations as simd_avx2.h, 4 lanes at a time.
#pragma once
#include <arm_neon.h>

namespace sd {
namespace kern {
namespace neon {

// e^x for 4 lanes: x = n ln2 + r, |r| <= ln2/2, e^r by its degree-6 Taylor
// polynomial (relative error < 2e-7), times 2^n. Lanes below -87.3 give 0
// (exp(-inf) = 0 for masked scores); lanes above 88.3 saturate.
inline float32x4_t exp(float32x4_t x) {
  const float32x4_t lo = vdupq_n_f32(-87.3f), hi = vdupq_n_f32(88.3f);
  const uint32x4_t under = vcltq_f32(x, lo);
  x = vminq_f32(vmaxq_f32(x, lo), hi);
  const float32x4_t n = vrndnq_f32(vmulq_n_f32(x, 1.44269504088896341f));
  float32x4_t r = vfmsq_f32(x, n, vdupq_n_f32(0.693145751953125f));  // ln2 split: hi part exact
  r = vfmsq_f32(r, n, vdupq_n_f32(1.428606765330187045e-06f));
  float32x4_t p = vdupq_n_f32(1.f / 720.f);
  p = vfmaq_f32(vdupq_n_f32(1.f / 120.f), p, r);
  p = vfmaq_f32(vdupq_n_f32(1.f / 24.f), p, r);
  p = vfmaq_f32(vdupq_n_f32(1.f / 6.f), p, r);
  p = vfmaq_f32(vdupq_n_f32(0.5f), p, r);
  p = vfmaq_f32(vdupq_n_f32(1.f), p, r);
  p = vfmaq_f32(vdupq_n_f32(1.f), p, r);
  const int32x4_t e = vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(n), vdupq_n_s32(127)), 23);
  return vreinterpretq_f32_u32(vbicq_u32(vreinterpretq_u32_f32(vmulq_f32(p, vreinterpretq_f32_s32(e))), under));
}

// erf(x) by Abramowitz & Stegun 7.1.26 (absolute error < 1.5e-7):
// 1 - (a1 t + ... + a5 t^5) e^(-x^2), t = 1 / (1 + p |x|), sign restored.
inline float32x4_t erf(float32x4_t x) {
  const uint32x4_t sign = vandq_u32(vreinterpretq_u32_f32(x), vdupq_n_u32(0x80000000u));
  const float32x4_t ax = vabsq_f32(x);
  const float32x4_t t = vdivq_f32(vdupq_n_f32(1.f), vfmaq_f32(vdupq_n_f32(1.f), vdupq_n_f32(0.3275911f), ax));
  float32x4_t p = vdupq_n_f32(1.061405429f);
  p = vfmaq_f32(vdupq_n_f32(-1.453152027f), p, t);
  p = vfmaq_f32(vdupq_n_f32(1.421413741f), p, t);
  p = vfmaq_f32(vdupq_n_f32(-0.284496736f), p, t);
  p = vfmaq_f32(vdupq_n_f32(0.254829592f), p, t);
  p = vmulq_f32(p, t);
  const float32x4_t e = exp(vnegq_f32(vmulq_f32(ax, ax)));
  const float32x4_t r = vfmsq_f32(vdupq_n_f32(1.f), p, e);
  return vreinterpretq_f32_u32(vorrq_u32(vreinterpretq_u32_f32(r), sign));
}

// Horizontal sum in a fixed lane order: (l0 + l2) + (l1 + l3).
inline float hsum(float32x4_t v) {
  const float32x2_t s = vadd_f32(vget_low_f32(v), vget_high_f32(v));
  return vget_lane_f32(s, 0) + vget_lane_f32(s, 1);
}

}  // namespace neon
}  // namespace kern
}  // namespace sd
