// arm64 NEON kernels. NEON is baseline on AArch64, so this file needs no
// flags and the path needs no runtime detection; on every other target it
// compiles to a neon_table() that returns nullptr. The table starts from the
// scalar one and overrides the hot entries.
#include "kernels/kernel_table.h"

#if defined(__aarch64__) && defined(__GNUC__)  // GCC/Clang vector extensions
#include <arm_neon.h>

#include <cmath>
#include <cstring>

#include "kernels/simd_neon.h"
#include "kernels/winograd_impl.h"

namespace sd {
namespace kern {
namespace {

// 12x8 register tile: 24 q-register accumulators, 3 A + 2 B loads per k
// (29 of the 32 vector registers).
constexpr int kMr = 12, kNr = 8, kMrShort = 8;
typedef float v4f __attribute__((vector_size(16)));

// c[i*ldc + j] (i < m, j < n) = (acc ? c : 0) + sum_k a[k*AS + i] * b[k*8 + j]
// for MR (a multiple of 4) rows of AS-wide packed A panels: each A vector
// feeds four rows through vfmaq_laneq_f32 (no broadcasts).
template <int MR, int AS>
void gemm_tile(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, int m, int n, bool acc) {
  static_assert(MR % 4 == 0 && MR <= AS, "rows in whole A vectors");
  float32x4_t r[MR][2];  // [row][column half]
#pragma GCC unroll 12
  for (int i = 0; i < MR; ++i) r[i][0] = r[i][1] = vdupq_n_f32(0.f);
  for (int64_t k = 0; k < kc; ++k) {
    const float32x4_t b0 = vld1q_f32(b), b1 = vld1q_f32(b + 4);  // B row k: columns 0..3, 4..7
#pragma GCC unroll 3
    for (int q = 0; q < MR / 4; ++q) {
      const float32x4_t av = vld1q_f32(a + 4 * q);  // A column k: rows 4q..4q+3
      r[4 * q][0] = vfmaq_laneq_f32(r[4 * q][0], b0, av, 0);
      r[4 * q][1] = vfmaq_laneq_f32(r[4 * q][1], b1, av, 0);
      r[4 * q + 1][0] = vfmaq_laneq_f32(r[4 * q + 1][0], b0, av, 1);
      r[4 * q + 1][1] = vfmaq_laneq_f32(r[4 * q + 1][1], b1, av, 1);
      r[4 * q + 2][0] = vfmaq_laneq_f32(r[4 * q + 2][0], b0, av, 2);
      r[4 * q + 2][1] = vfmaq_laneq_f32(r[4 * q + 2][1], b1, av, 2);
      r[4 * q + 3][0] = vfmaq_laneq_f32(r[4 * q + 3][0], b0, av, 3);
      r[4 * q + 3][1] = vfmaq_laneq_f32(r[4 * q + 3][1], b1, av, 3);
    }
    a += AS;
    b += kNr;
  }
  if (m == MR && n == kNr) {
#pragma GCC unroll 12
    for (int i = 0; i < MR; ++i)
      for (int h = 0; h < 2; ++h) {
        float* p = c + i * ldc + 4 * h;
        vst1q_f32(p, acc ? vaddq_f32(vld1q_f32(p), r[i][h]) : r[i][h]);
      }
    return;
  }
  float t[MR][kNr];
#pragma GCC unroll 12
  for (int i = 0; i < MR; ++i) {
    vst1q_f32(t[i], r[i][0]);
    vst1q_f32(t[i] + 4, r[i][1]);
  }
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) c[i * ldc + j] = acc ? c[i * ldc + j] + t[i][j] : t[i][j];
}

void gemm_ukernel(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, int m, int n, bool acc) {
  gemm_tile<kMr, kMr>(kc, a, b, c, ldc, m, n, acc);
}

// 8x8 over 12-wide A panels: row tails of up to 8.
void gemm_ukernel_short(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, int m, int n, bool acc) {
  gemm_tile<kMrShort, kMr>(kc, a, b, c, ldc, m, n, acc);
}

void convert_to_f32(DType t, const void* src, int64_t n, float* dst) {
  int64_t i = 0;
  switch (t) {
    case DType::F32: std::memcpy(dst, src, size_t(n) * 4); return;
    case DType::F16: {
      const uint16_t* s = static_cast<const uint16_t*>(src);
      for (; i + 8 <= n; i += 8) {
        const float16x8_t h = vreinterpretq_f16_u16(vld1q_u16(s + i));
        vst1q_f32(dst + i, vcvt_f32_f16(vget_low_f16(h)));
        vst1q_f32(dst + i + 4, vcvt_high_f32_f16(h));
      }
      for (; i < n; ++i) dst[i] = f16_to_f32(load_u16(s, i));
      return;
    }
    case DType::BF16: {
      const uint16_t* s = static_cast<const uint16_t*>(src);
      for (; i + 8 <= n; i += 8) {
        const uint16x8_t h = vld1q_u16(s + i);  // bf16 is the high half of an f32
        vst1q_f32(dst + i, vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(h), 16)));
        vst1q_f32(dst + i + 4, vreinterpretq_f32_u32(vshll_high_n_u16(h, 16)));
      }
      for (; i < n; ++i) dst[i] = bf16_to_f32(load_u16(s, i));
      return;
    }
    default: fail_unhandled_dtype(t);
  }
}

// Applies f to 4 lanes at a time; the tail goes through a padded copy (pad
// lanes hold `pad`, their results are discarded). Returns the sum of the
// result vectors, pad lanes included.
template <typename F>
float32x4_t map4(float* x, int64_t n, float pad, F f) {
  float32x4_t s = vdupq_n_f32(0.f);
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const float32x4_t y = f(vld1q_f32(x + i));
    vst1q_f32(x + i, y);
    s = vaddq_f32(s, y);
  }
  if (i < n) {
    float t[4] = {pad, pad, pad, pad};
    std::memcpy(t, x + i, size_t(n - i) * 4);
    const float32x4_t y = f(vld1q_f32(t));
    vst1q_f32(t, y);
    std::memcpy(x + i, t, size_t(n - i) * 4);
    s = vaddq_f32(s, y);
  }
  return s;
}

float exp_shift_sum(float* x, int64_t n, float max) {
  const float32x4_t vm = vdupq_n_f32(max);
  // Pad lanes at -inf: exp gives 0, so they add nothing to the sum.
  return neon::hsum(map4(x, n, -INFINITY, [vm](float32x4_t v) { return neon::exp(vsubq_f32(v, vm)); }));
}

float max_of(const float* x, int64_t n) {
  float32x4_t m = vdupq_n_f32(-INFINITY);
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) m = vmaxq_f32(m, vld1q_f32(x + i));
  float r = vmaxvq_f32(m);
  for (; i < n; ++i) r = x[i] > r ? x[i] : r;
  return r;
}

void silu(float* x, int64_t n) {
  map4(x, n, 0.f, [](float32x4_t v) { return vdivq_f32(v, vaddq_f32(vdupq_n_f32(1.f), neon::exp(vnegq_f32(v)))); });
}

void quick_gelu(float* x, int64_t n) {
  map4(x, n, 0.f, [](float32x4_t v) { return vdivq_f32(v, vaddq_f32(vdupq_n_f32(1.f), neon::exp(vmulq_n_f32(v, -1.702f)))); });
}

void gelu(float* x, int64_t n) {
  map4(x, n, 0.f, [](float32x4_t v) {
    return vmulq_f32(vmulq_n_f32(v, 0.5f), vaddq_f32(vdupq_n_f32(1.f), neon::erf(vmulq_n_f32(v, 0.70710678118654752f))));
  });
}

// 2^x for x <= 0 (a score in base 2 minus its column max): x = n + r,
// |r| <= 1/2 (exact), 2^r by the degree-6 Taylor polynomial of e^(r ln2)
// (relative error < 2e-7), times 2^n. Below -126 this gives ~1e-38 instead
// of 0: nothing next to the column's maximum term 1.
inline float32x4_t exp2_nonpositive(float32x4_t x) {
  x = vmaxq_f32(x, vdupq_n_f32(-126.f));
  const float32x4_t n = vrndnq_f32(x), r = vsubq_f32(x, n);
  constexpr float l1 = 0.693147180559945309f, l2 = l1 * l1 / 2, l3 = l2 * l1 / 3, l4 = l3 * l1 / 4, l5 = l4 * l1 / 5, l6 = l5 * l1 / 6;
  float32x4_t p = vfmaq_f32(vdupq_n_f32(l5), vdupq_n_f32(l6), r);
  for (float c : {l4, l3, l2, l1, 1.f}) p = vfmaq_f32(vdupq_n_f32(c), p, r);
  const int32x4_t e = vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(n), vdupq_n_s32(127)), 23);
  return vmulq_f32(p, vreinterpretq_f32_s32(e));
}

// 4 query columns at a time (w is a multiple of 8).
void softmax2_cols(float* p, int64_t rows, int64_t w, float* m, float* l, float* alpha) {
  for (int64_t i = 0; i < w; i += 4) {
    // Four independent max chains (max is exact in any order).
    const float32x4_t m_old = vld1q_f32(m + i);
    float32x4_t mm[4] = {m_old, m_old, m_old, m_old};
    int64_t j = 0;
    for (; j + 4 <= rows; j += 4)
      for (int k = 0; k < 4; ++k) mm[k] = vmaxq_f32(mm[k], vld1q_f32(p + (j + k) * w + i));
    for (; j < rows; ++j) mm[0] = vmaxq_f32(mm[0], vld1q_f32(p + j * w + i));
    float32x4_t mn = vmaxq_f32(vmaxq_f32(mm[0], mm[1]), vmaxq_f32(mm[2], mm[3]));
    mn = vreinterpretq_f32_u32(vandq_u32(vreinterpretq_u32_f32(mn), vcgtq_f32(mn, vdupq_n_f32(-INFINITY))));  // -inf -> 0
    const float32x4_t a = exp2_nonpositive(vsubq_f32(m_old, mn));  // -inf - finite = -inf: clamped, then times l = 0
    vst1q_f32(alpha + i, a);
    float32x4_t s = vmulq_f32(vld1q_f32(l + i), a);
    for (j = 0; j < rows; ++j) {  // summed in row order
      const float32x4_t x = exp2_nonpositive(vsubq_f32(vld1q_f32(p + j * w + i), mn));
      vst1q_f32(p + j * w + i, x);
      s = vaddq_f32(s, x);
    }
    vst1q_f32(l + i, s);
    vst1q_f32(m + i, mn);
  }
}

// Row r (4 values from column c) of a transpose block as f32; the source
// may be unaligned (mapped tensors), so it is loaded as bytes.
inline float32x4_t load_row4(DType t, const void* src, int64_t i) {
  if (t == DType::F32) return vreinterpretq_f32_u8(vld1q_u8(static_cast<const uint8_t*>(src) + 4 * i));
  const uint16x4_t h = vreinterpret_u16_u8(vld1_u8(static_cast<const uint8_t*>(src) + 2 * i));
  if (t == DType::F16) return vcvt_f32_f16(vreinterpret_f16_u16(h));
  return vreinterpretq_f32_u32(vshll_n_u16(h, 16));  // bf16
}

void transpose_f32(DType t, const void* src, int64_t ld, int64_t rows, int64_t cols, float* dst, int64_t ldd) {
  if (t != DType::F32 && t != DType::F16 && t != DType::BF16) fail_unhandled_dtype(t);
  const int64_t r4 = rows / 4 * 4, c4 = cols / 4 * 4;
  for (int64_t r = 0; r < r4; r += 4)
    for (int64_t c = 0; c < c4; c += 4) {
      const int64_t i = r * ld + c;
      const float32x4_t a = load_row4(t, src, i), b = load_row4(t, src, i + ld);  // rows r, r+1: columns c..c+3
      const float32x4_t e = load_row4(t, src, i + 2 * ld), f = load_row4(t, src, i + 3 * ld);
      // 4x4 transpose: 32-bit pairs, then 64-bit halves.
      const float64x2_t t0 = vreinterpretq_f64_f32(vtrn1q_f32(a, b)), t1 = vreinterpretq_f64_f32(vtrn2q_f32(a, b));
      const float64x2_t t2 = vreinterpretq_f64_f32(vtrn1q_f32(e, f)), t3 = vreinterpretq_f64_f32(vtrn2q_f32(e, f));
      float* d = dst + c * ldd + r;
      vst1q_f32(d, vreinterpretq_f32_f64(vtrn1q_f64(t0, t2)));
      vst1q_f32(d + ldd, vreinterpretq_f32_f64(vtrn1q_f64(t1, t3)));
      vst1q_f32(d + 2 * ldd, vreinterpretq_f32_f64(vtrn2q_f64(t0, t2)));
      vst1q_f32(d + 3 * ldd, vreinterpretq_f32_f64(vtrn2q_f64(t1, t3)));
    }
  // Tails through the scalar kernel: rows below r4 (all columns), columns
  // past c4 (rows above r4).
  const char* s = static_cast<const char*>(src);
  const int64_t es = t == DType::F32 ? 4 : 2;
  scalar_table().transpose_f32(t, s + r4 * ld * es, ld, rows - r4, cols, dst + r4, ldd);
  scalar_table().transpose_f32(t, s + c4 * es, ld, r4, cols - c4, dst + c4 * ldd, ldd);
}

}  // namespace

const Table* neon_table() {
  static const Table t = [] {
    Table x = scalar_table();
    x.name = "neon";
    x.mr = kMr;
    x.nr = kNr;
    x.gemm_ukernel = gemm_ukernel;
    x.mr_short = kMrShort;
    x.gemm_ukernel_short = gemm_ukernel_short;
    x.convert_to_f32 = convert_to_f32;
    x.exp_shift_sum = exp_shift_sum;
    x.max_of = max_of;
    x.silu = silu;
    x.quick_gelu = quick_gelu;
    x.gelu = gelu;
    x.softmax2_cols = softmax2_cols;
    x.transpose_f32 = transpose_f32;
    x.wino_weights = wino::weights<wino::F4x4, v4f, 4>;
    x.wino_input = wino::input<wino::F4x4, v4f, 4>;
    x.wino_output = wino::output<wino::F4x4, v4f, 4>;
    x.wino2_weights = wino::weights<wino::F2x2, v4f, 4>;
    x.wino2_input = wino::input<wino::F2x2, v4f, 4>;
    x.wino2_output = wino::output<wino::F2x2, v4f, 4>;
    return x;
  }();
  return &t;
}

}  // namespace kern
}  // namespace sd

#else
namespace sd {
namespace kern {
const Table* neon_table() { return nullptr; }
}  // namespace kern
}  // namespace sd
#endif
