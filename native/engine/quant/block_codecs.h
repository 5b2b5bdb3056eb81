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

// Sub-block j (32 values) of a q4_K / q5_K super-block p whose f16 d and
// dmin the caller has read: w = s * n - m for its unsigned codes n, with
// s = d * sc and m = dmin * mn. Both are exact products (an f16 value times
// a 6-bit integer), so every decoder and packer built on them agrees bit for
// bit whether or not its compiler fuses the next multiply-add.
inline void k_sub_scale(const uint8_t* p, int j, float d, float dmin, float* s, float* m) {
  int sc, mn;
  k_scale_min(p + 4, j, &sc, &mn);
  *s = d * float(sc);
  *m = dmin * float(mn);
}

}  // namespace quant
}  // namespace sd
