// Internal: one quantize / dequantize pair per block format (one block per
// call; x / y hold dtype_block_size values). blocks.cpp dispatches to these.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

#include "tensor/dtype.h"

namespace sd {
namespace quant {

inline int nearest(float v) { return static_cast<int>(std::lrintf(v)); }
inline int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }
inline float rd_half(const uint8_t* p) { return f16_to_f32(static_cast<uint16_t>(p[0] | (p[1] << 8))); }
inline void wr_half(uint8_t* p, float v) {
  const uint16_t h = f32_to_f16(v);
  p[0] = static_cast<uint8_t>(h);
  p[1] = static_cast<uint8_t>(h >> 8);
}

// Legacy 32-value blocks (block_legacy.cpp).
void quantize_q8_0(const float* x, uint8_t* b);
void dequantize_q8_0(const uint8_t* b, float* y);
void quantize_q4_0(const float* x, uint8_t* b);
void dequantize_q4_0(const uint8_t* b, float* y);
void quantize_q4_1(const float* x, uint8_t* b);
void dequantize_q4_1(const uint8_t* b, float* y);
void quantize_q5_0(const float* x, uint8_t* b);
void dequantize_q5_0(const uint8_t* b, float* y);
void quantize_q5_1(const float* x, uint8_t* b);
void dequantize_q5_1(const uint8_t* b, float* y);

// 256-value k-quant super-blocks (block_k.cpp).
void quantize_q2_K(const float* x, uint8_t* b);
void dequantize_q2_K(const uint8_t* b, float* y);
void quantize_q3_K(const float* x, uint8_t* b);
void dequantize_q3_K(const uint8_t* b, float* y);
void quantize_q4_K(const float* x, uint8_t* b);
void dequantize_q4_K(const uint8_t* b, float* y);
void quantize_q5_K(const float* x, uint8_t* b);
void dequantize_q5_K(const uint8_t* b, float* y);
void quantize_q6_K(const float* x, uint8_t* b);
void dequantize_q6_K(const uint8_t* b, float* y);

// q4_K / q5_K 6-bit scale and min of sub-block j (0..7) from the 12 packed bytes.
inline void k_scale_min(const uint8_t* s, int j, int* sc, int* mn) {
  if (j < 4) {
    *sc = s[j] & 63;
    *mn = s[j + 4] & 63;
  } else {
    *sc = (s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4);
    *mn = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
  }
}

// Sub-block j (32 values) of a q4_K / q5_K super-block p, as the integer
// GEMM's panels take it: w = d * (n - bias) + o for its unsigned codes n
// (bias 8 for q4_K, 16 for q5_K); returns d and sets o. d = d_super * sc and
// both products in o are exact, so o takes one rounding whether or not the
// compiler fuses it: every packer gets the same bits.
inline float k_sub_block(const uint8_t* p, int j, int bias, float* o) {
  int sc, mn;
  k_scale_min(p + 4, j, &sc, &mn);
  const float d = rd_half(p) * float(sc);
  *o = float(bias) * d - rd_half(p + 2) * float(mn);
  return d;
}

}  // namespace quant
}  // namespace sd
