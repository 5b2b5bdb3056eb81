// Block-quantized formats with the published ggml/GGUF layouts (all little
// endian, scales as IEEE half):
//   q8_0  32 values: d, int8 q[32]                      x = d*q
//   q4_0  32 values: d, 16 B nibbles (lo = 0..15, hi = 16..31)   x = d*(q-8)
//   q4_1  32 values: d, m, 16 B nibbles                  x = d*q + m
//   q5_0  32 values: d, 4 B high bits, 16 B nibbles      x = d*(q-16)
//   q5_1  32 values: d, m, 4 B high bits, 16 B nibbles   x = d*q + m
//   q2_K  256 values: 16 B (4-bit scale | 4-bit min << 4) per 16, 64 B 2-bit q, d, dmin
//   q3_K  256 values: 32 B high-bit mask, 64 B 2-bit low q, 12 B 6-bit scales, d
//   q4_K  256 values: d, dmin, 12 B 6-bit scales+mins per 32, 128 B nibbles
//   q5_K  256 values: d, dmin, 12 B scales+mins, 32 B high bits, 128 B nibbles
//   q6_K  256 values: 128 B low nibbles, 64 B 2-bit highs, int8 scales[16], d
// The quantizers are our own (nearest rounding of a per-block range fit);
// any file that follows these layouts decodes identically.
#pragma once
#include <cstdint>

#include "tensor/dtype.h"

namespace sd {
namespace quant {

// True for the block formats below (q4_0 ... q6_K).
bool is_block_format(DType t);

// dst gets dtype_bytes_for(t, n) bytes; n must be a multiple of the block size
// (ERR_INTERNAL otherwise, the caller checks shapes first).
void quantize_row(DType t, const float* x, int64_t n, void* dst);
// y[0..n) from n values of type t; also takes f32 / f16 / bf16.
void dequantize_row(DType t, const void* src, int64_t n, float* y);

// n values of type `from` at src -> type `to` at dst (any float or block
// type; through f32 when the types differ). `scratch` holds n floats.
void convert_row(DType from, const void* src, DType to, int64_t n, void* dst, float* scratch);

// Representative round-trip error bound for data without outliers (relative
// L2 over a row of Gaussian values); tests assert it, docs quote it.
double rel_l2_bound(DType t);

}  // namespace quant
}  // namespace sd
