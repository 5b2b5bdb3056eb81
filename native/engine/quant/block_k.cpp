// The 256-value k-quant formats. Every format keeps sub-blocks of
// consecutive values (16 for q2_K / q3_K / q6_K, 32 for q4_K / q5_K) with a
// small integer scale (and min) relative to the super-block's half d (dmin).
// Element e's bits sit at the published positions, written out per format
// below as index arithmetic on e. Quantizers: a per-sub-block range fit, then
// the scales quantized against the largest one, then codes chosen for the
// decoded scales.
#include <algorithm>

#include "quant/block_codecs.h"

namespace sd {
namespace quant {
namespace {

constexpr int QK = 256;

// q2_K / q3_K: element e -> byte of the 64-byte 2-bit array and bit shift.
inline int k2_byte(int e) { return 32 * (e / 128) + 16 * ((e % 32) / 16) + e % 16; }
inline int k2_shift(int e) { return 2 * ((e % 128) / 32); }

// Per sub-block of `len` values: scale s (and min m >= 0 for offset formats)
// such that x ~= s * code - m with code in [0, top]; symmetric formats
// (top < 0) give s for codes in [top, -top - 1] with the largest magnitude at
// `top`.
void fit_offset(const float* x, int len, int top, float* s, float* m) {
  float lo = std::min(0.f, *std::min_element(x, x + len));
  float hi = *std::max_element(x, x + len);
  *s = (hi - lo) / top;
  *m = -lo;
}
float fit_sym(const float* x, int len, int most_negative) {
  float mx = 0.f;
  for (int i = 0; i < len; ++i)
    if (std::fabs(x[i]) > std::fabs(mx)) mx = x[i];
  return mx / most_negative;
}

// Quantizes non-negative values v[n] to integers in [0, top] against the
// super scale returned (v ~= super * code).
float quantize_scales(const float* v, int n, int top, int* code) {
  const float mx = *std::max_element(v, v + n);
  const float super = f16_to_f32(f32_to_f16(mx / top));
  const float inv = super > 0.f ? 1.f / super : 0.f;
  for (int i = 0; i < n; ++i) code[i] = clampi(nearest(v[i] * inv), 0, top);
  return super;
}

// Codes in [lo, hi] for x ~= scale * code - min.
inline int code_for(float x, float scale, float min, int lo, int hi) {
  return scale != 0.f ? clampi(nearest((x + min) / scale), lo, hi) : 0;
}

// q4_K / q5_K shared: 8 sub-blocks of 32, 6-bit scales and mins; returns codes.
void fit_k32(const float* x, int top, uint8_t* b, int* q) {
  float s[8], m[8];
  for (int j = 0; j < 8; ++j) fit_offset(x + 32 * j, 32, top, &s[j], &m[j]);
  int sc[8], mn[8];
  const float d = quantize_scales(s, 8, 63, sc), dmin = quantize_scales(m, 8, 63, mn);
  wr_half(b, d);
  wr_half(b + 2, dmin);
  uint8_t* p = b + 4;
  std::memset(p, 0, 12);
  for (int j = 0; j < 8; ++j) {
    if (j < 4) {
      p[j] |= static_cast<uint8_t>(sc[j]);
      p[j + 4] |= static_cast<uint8_t>(mn[j]);
    } else {
      p[j + 4] = static_cast<uint8_t>((sc[j] & 0xF) | ((mn[j] & 0xF) << 4));
      p[j - 4] |= static_cast<uint8_t>((sc[j] >> 4) << 6);
      p[j] |= static_cast<uint8_t>((mn[j] >> 4) << 6);
    }
  }
  for (int e = 0; e < QK; ++e) q[e] = code_for(x[e], d * sc[e / 32], dmin * mn[e / 32], 0, top);
}

}  // namespace

// q2_K: scales[16] (lo nibble scale, hi nibble min) | qs[64] | d | dmin.
void quantize_q2_K(const float* x, uint8_t* b) {
  float s[16], m[16];
  for (int j = 0; j < 16; ++j) fit_offset(x + 16 * j, 16, 3, &s[j], &m[j]);
  int sc[16], mn[16];
  const float d = quantize_scales(s, 16, 15, sc), dmin = quantize_scales(m, 16, 15, mn);
  for (int j = 0; j < 16; ++j) b[j] = static_cast<uint8_t>(sc[j] | (mn[j] << 4));
  uint8_t* qs = b + 16;
  std::memset(qs, 0, 64);
  for (int e = 0; e < QK; ++e)
    qs[k2_byte(e)] |= static_cast<uint8_t>(code_for(x[e], d * sc[e / 16], dmin * mn[e / 16], 0, 3) << k2_shift(e));
  wr_half(b + 80, d);
  wr_half(b + 82, dmin);
}
void dequantize_q2_K(const uint8_t* b, float* y) {
  const float d = rd_half(b + 80), dmin = rd_half(b + 82);
  for (int i = 0; i < 16; ++i) {  // sub-block i: values 16i..16i+15
    const float s = d * float(b[i] & 0xF), m = dmin * float(b[i] >> 4);
    const uint8_t* q = b + 16 + k2_byte(16 * i);
    const int shift = k2_shift(16 * i);
    for (int t = 0; t < 16; ++t) y[16 * i + t] = s * float((q[t] >> shift) & 3) - m;
  }
}

// q3_K: hmask[32] | qs[64] | scales[12] (6-bit, offset 32) | d.
// Scale i: low 4 bits in byte i (i < 8) or the high nibble of byte i - 8;
// high 2 bits at bit 2*(i/4) of byte 8 + i%4.
void quantize_q3_K(const float* x, uint8_t* b) {
  float s[16], as[16];
  for (int j = 0; j < 16; ++j) {
    s[j] = fit_sym(x + 16 * j, 16, -4);
    as[j] = std::fabs(s[j]);
  }
  const float mx = *std::max_element(as, as + 16);
  const float d = f16_to_f32(f32_to_f16(mx / 31.f));
  int sc[16];
  for (int j = 0; j < 16; ++j) sc[j] = d > 0.f ? clampi(nearest(s[j] / d), -32, 31) : 0;
  uint8_t* hm = b;
  uint8_t* qs = b + 32;
  uint8_t* sp = b + 96;
  std::memset(b, 0, 108);
  for (int i = 0; i < 16; ++i) {
    const int u = sc[i] + 32;
    sp[i % 8] |= static_cast<uint8_t>((u & 0xF) << (i < 8 ? 0 : 4));
    sp[8 + i % 4] |= static_cast<uint8_t>((u >> 4) << (2 * (i / 4)));
  }
  for (int e = 0; e < QK; ++e) {
    const int q = code_for(x[e], d * sc[e / 16], 0.f, -4, 3) + 4;  // 0..7
    qs[k2_byte(e)] |= static_cast<uint8_t>((q & 3) << k2_shift(e));
    if (q & 4) hm[e % 32] |= static_cast<uint8_t>(1 << (e / 32));
  }
  wr_half(b + 108, d);
}
void dequantize_q3_K(const uint8_t* b, float* y) {
  const float d = rd_half(b + 108);
  const uint8_t* sp = b + 96;
  for (int i = 0; i < 16; ++i) {  // sub-block i: values 16i..16i+15
    const int sc = (((i < 8 ? sp[i] : sp[i - 8] >> 4) & 0xF) | (((sp[8 + i % 4] >> (2 * (i / 4))) & 3) << 4)) - 32;
    const float s = d * float(sc);
    const uint8_t* q = b + 32 + k2_byte(16 * i);
    const uint8_t* h = b + (16 * i) % 32;  // the high bit of value e at bit e / 32 of byte e % 32
    const int shift = k2_shift(16 * i), hbit = i / 2;
    for (int t = 0; t < 16; ++t) y[16 * i + t] = s * float(((q[t] >> shift) & 3) - ((h[t] >> hbit) & 1 ? 0 : 4));
  }
}

// q4_K: d | dmin | scales[12] | qs[128]; element e in byte 32*(e/64) + e%32,
// low nibble for the first 32 of each 64, high nibble for the second.
void quantize_q4_K(const float* x, uint8_t* b) {
  int q[QK];
  fit_k32(x, 15, b, q);
  uint8_t* qs = b + 16;
  std::memset(qs, 0, 128);
  for (int e = 0; e < QK; ++e) qs[32 * (e / 64) + e % 32] |= static_cast<uint8_t>(q[e] << (e % 64 < 32 ? 0 : 4));
}
void dequantize_q4_K(const uint8_t* b, float* y) {
  const float d = rd_half(b), dmin = rd_half(b + 2);
  for (int j = 0; j < 8; ++j) {  // sub-block j: values 32j..32j+31
    float s, m;
    k_sub_scale(b, j, d, dmin, &s, &m);
    const uint8_t* q = b + 16 + 32 * (j / 2);
    const int shift = j % 2 ? 4 : 0;
    for (int l = 0; l < 32; ++l) y[32 * j + l] = s * float((q[l] >> shift) & 0xF) - m;
  }
}

// q5_K: d | dmin | scales[12] | qh[32] | qs[128]; nibbles as q4_K, bit 4 of
// element e at bit e/32 of qh[e % 32].
void quantize_q5_K(const float* x, uint8_t* b) {
  int q[QK];
  fit_k32(x, 31, b, q);
  uint8_t* qh = b + 16;
  uint8_t* qs = b + 48;
  std::memset(qh, 0, 160);
  for (int e = 0; e < QK; ++e) {
    qs[32 * (e / 64) + e % 32] |= static_cast<uint8_t>((q[e] & 0xF) << (e % 64 < 32 ? 0 : 4));
    qh[e % 32] |= static_cast<uint8_t>((q[e] >> 4) << (e / 32));
  }
}
void dequantize_q5_K(const uint8_t* b, float* y) {
  const float d = rd_half(b), dmin = rd_half(b + 2);
  for (int j = 0; j < 8; ++j) {  // sub-block j: values 32j..32j+31
    float s, m;
    k_sub_scale(b, j, d, dmin, &s, &m);
    const uint8_t* q = b + 48 + 32 * (j / 2);
    const int shift = j % 2 ? 4 : 0;
    for (int l = 0; l < 32; ++l) y[32 * j + l] = s * float(((q[l] >> shift) & 0xF) | (((b[16 + l] >> j) & 1) << 4)) - m;
  }
}

// q6_K: ql[128] | qh[64] | int8 scales[16] | d; per 128-value half n, part
// p = (e%128)/32, l = e%32: low nibble of ql[64n + l + 32*(p&1)] (p >= 2:
// high nibble), 2 high bits at bit 2p of qh[32n + l]; code offset 32.
void quantize_q6_K(const float* x, uint8_t* b) {
  float s[16], as[16];
  for (int j = 0; j < 16; ++j) {
    s[j] = fit_sym(x + 16 * j, 16, -32);
    as[j] = std::fabs(s[j]);
  }
  const float mx = *std::max_element(as, as + 16);
  const float d = f16_to_f32(f32_to_f16(mx / 127.f));
  std::memset(b, 0, 208);
  int sc[16];
  for (int j = 0; j < 16; ++j) {
    sc[j] = d > 0.f ? clampi(nearest(s[j] / d), -128, 127) : 0;
    b[192 + j] = static_cast<uint8_t>(static_cast<int8_t>(sc[j]));
  }
  for (int e = 0; e < QK; ++e) {
    const int n = e / 128, p = (e % 128) / 32, l = e % 32;
    const int q = code_for(x[e], d * sc[e / 16], 0.f, -32, 31) + 32;  // 0..63
    b[64 * n + l + 32 * (p & 1)] |= static_cast<uint8_t>((q & 0xF) << (p >= 2 ? 4 : 0));
    b[128 + 32 * n + l] |= static_cast<uint8_t>((q >> 4) << (2 * p));
  }
  wr_half(b + 208, d);
}
void dequantize_q6_K(const uint8_t* b, float* y) {
  const float d = rd_half(b + 208);
  for (int i = 0; i < 16; ++i) {  // sub-block i: values e = 16i..16i+15, e = 128n + 32p + l
    const int n = i / 8, p = (i % 8) / 2, l0 = 16 * (i % 2);
    const float s = d * float(static_cast<int8_t>(b[192 + i]));
    const uint8_t* lo = b + 64 * n + 32 * (p & 1) + l0;
    const uint8_t* hi = b + 128 + 32 * n + l0;
    const int shift = p >= 2 ? 4 : 0;
    for (int t = 0; t < 16; ++t) y[16 * i + t] = s * float((((lo[t] >> shift) & 0xF) | (((hi[t] >> (2 * p)) & 3) << 4)) - 32);
  }
}

}  // namespace quant
}  // namespace sd
