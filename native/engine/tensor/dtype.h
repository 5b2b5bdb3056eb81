// Element types. Float types are stored per element; the ggml-compatible block
// quantized types are stored in fixed-size blocks of `block_size()` elements
// (layouts per the published GGUF specification; kernels in kernels/quant*).
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

namespace sd {

enum class DType : uint8_t {
  F32,
  F16,
  BF16,
  F64,
  I8,
  U8,
  I16,
  I32,
  I64,
  BOOL,
  Q4_0,
  Q4_1,
  Q5_0,
  Q5_1,
  Q8_0,
  Q2_K,
  Q3_K,
  Q4_K,
  Q5_K,
  Q6_K,
};

const char* dtype_name(DType t);                            // "f32", "f16", "q8_0", ...
bool dtype_from_name(const std::string& name, DType* out);  // inverse of dtype_name
int64_t dtype_block_size(DType t);                          // elements per block (1 for plain types)
int64_t dtype_block_bytes(DType t);                         // bytes per block
bool dtype_is_quantized(DType t);
bool dtype_is_float(DType t);  // f32 / f16 / bf16 / f64

// Bytes needed for `n` elements; -1 if n is not a whole number of blocks or
// the product overflows.
int64_t dtype_bytes_for(DType t, int64_t n);

// IEEE half <-> float, exact (round-to-nearest-even on the way down).
float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);
inline float bf16_to_f32(uint16_t h) {
  uint32_t u = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
uint16_t f32_to_bf16(float f);  // round-to-nearest-even, NaN preserved

// Element i of a 16-bit array that may sit at an odd address (safetensors
// does not align tensor data), read without a misaligned load.
inline uint16_t load_u16(const void* base, int64_t i) {
  uint16_t v;
  std::memcpy(&v, static_cast<const unsigned char*>(base) + 2 * i, 2);
  return v;
}

}  // namespace sd
