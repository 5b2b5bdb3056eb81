// The 32-value formats q8_0, q4_0, q4_1, q5_0, q5_1. Symmetric formats map
// the value of largest magnitude to the most negative code (as the published
// reference does), so the full code range is used; offset formats fit
// [min, max] linearly.
#include <algorithm>

#include "quant/block_codecs.h"

namespace sd {
namespace quant {
namespace {

// Value of largest magnitude (keeps its sign).
float signed_absmax(const float* x) {
  float m = 0.f;
  for (int i = 0; i < 32; ++i)
    if (std::fabs(x[i]) > std::fabs(m)) m = x[i];
  return m;
}

// Nibble codes q[32] into the 16-byte layout: byte i = q[i] | q[i+16] << 4.
void pack_nibbles(const int* q, uint8_t* dst) {
  for (int i = 0; i < 16; ++i) dst[i] = static_cast<uint8_t>((q[i] & 0xF) | ((q[i + 16] & 0xF) << 4));
}
void unpack_nibbles(const uint8_t* src, int* q) {
  for (int i = 0; i < 16; ++i) {
    q[i] = src[i] & 0xF;
    q[i + 16] = src[i] >> 4;
  }
}
// Fifth bits: bit i of the little-endian uint32 qh is bit 4 of q[i].
void pack_high(const int* q, uint8_t* qh) {
  uint32_t h = 0;
  for (int i = 0; i < 32; ++i) h |= uint32_t((q[i] >> 4) & 1) << i;
  for (int k = 0; k < 4; ++k) qh[k] = static_cast<uint8_t>(h >> (8 * k));
}
void add_high(const uint8_t* qh, int* q) {
  const uint32_t h = qh[0] | (uint32_t(qh[1]) << 8) | (uint32_t(qh[2]) << 16) | (uint32_t(qh[3]) << 24);
  for (int i = 0; i < 32; ++i) q[i] |= int((h >> i) & 1) << 4;
}

// Symmetric: codes 0..2^bits-1 with zero at 2^(bits-1); returns d.
float quantize_sym(const float* x, int bits, int* q) {
  const int half = 1 << (bits - 1);
  const float m = signed_absmax(x);
  const float d = m / -half;
  const float id = d != 0.f ? 1.f / d : 0.f;
  for (int i = 0; i < 32; ++i) q[i] = clampi(nearest(x[i] * id) + half, 0, 2 * half - 1);
  return d;
}

// Offset: codes 0..2^bits-1 spanning [min, max]; returns d, sets *mn.
float quantize_offset(const float* x, int bits, int* q, float* mn) {
  const int top = (1 << bits) - 1;
  float lo = x[0], hi = x[0];
  for (int i = 1; i < 32; ++i) {
    lo = std::min(lo, x[i]);
    hi = std::max(hi, x[i]);
  }
  // The decoder sees the half-precision d and m, so codes are chosen for those.
  const float d = f16_to_f32(f32_to_f16((hi - lo) / top));
  const float m = f16_to_f32(f32_to_f16(lo));
  const float id = d != 0.f ? 1.f / d : 0.f;
  for (int i = 0; i < 32; ++i) q[i] = clampi(nearest((x[i] - m) * id), 0, top);
  *mn = m;
  return d;
}

}  // namespace

void quantize_q8_0(const float* x, uint8_t* b) {
  float amax = 0.f;
  for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(x[i]));
  const float d = amax / 127.f;
  const float id = d != 0.f ? 1.f / d : 0.f;
  wr_half(b, d);
  for (int i = 0; i < 32; ++i) b[2 + i] = static_cast<uint8_t>(static_cast<int8_t>(clampi(nearest(x[i] * id), -127, 127)));
}
void dequantize_q8_0(const uint8_t* b, float* y) {
  const float d = rd_half(b);
  for (int i = 0; i < 32; ++i) y[i] = d * static_cast<int8_t>(b[2 + i]);
}

void quantize_q4_0(const float* x, uint8_t* b) {
  int q[32];
  wr_half(b, quantize_sym(x, 4, q));
  pack_nibbles(q, b + 2);
}
void dequantize_q4_0(const uint8_t* b, float* y) {
  int q[32];
  unpack_nibbles(b + 2, q);
  const float d = rd_half(b);
  for (int i = 0; i < 32; ++i) y[i] = d * (q[i] - 8);
}

void quantize_q4_1(const float* x, uint8_t* b) {
  int q[32];
  float m;
  wr_half(b, quantize_offset(x, 4, q, &m));
  wr_half(b + 2, m);
  pack_nibbles(q, b + 4);
}
void dequantize_q4_1(const uint8_t* b, float* y) {
  int q[32];
  unpack_nibbles(b + 4, q);
  const float d = rd_half(b), m = rd_half(b + 2);
  for (int i = 0; i < 32; ++i) y[i] = d * q[i] + m;
}

void quantize_q5_0(const float* x, uint8_t* b) {
  int q[32];
  wr_half(b, quantize_sym(x, 5, q));
  pack_high(q, b + 2);
  pack_nibbles(q, b + 6);
}
void dequantize_q5_0(const uint8_t* b, float* y) {
  int q[32];
  unpack_nibbles(b + 6, q);
  add_high(b + 2, q);
  const float d = rd_half(b);
  for (int i = 0; i < 32; ++i) y[i] = d * (q[i] - 16);
}

void quantize_q5_1(const float* x, uint8_t* b) {
  int q[32];
  float m;
  wr_half(b, quantize_offset(x, 5, q, &m));
  wr_half(b + 2, m);
  pack_high(q, b + 4);
  pack_nibbles(q, b + 8);
}
void dequantize_q5_1(const uint8_t* b, float* y) {
  int q[32];
  unpack_nibbles(b + 8, q);
  add_high(b + 4, q);
  const float d = rd_half(b), m = rd_half(b + 2);
  for (int i = 0; i < 32; ++i) y[i] = d * q[i] + m;
}

}  // namespace quant
}  // namespace sd
