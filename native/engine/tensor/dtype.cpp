#include "tensor/dtype.h"

#include <limits>

namespace sd {

namespace {
struct DTypeInfo {
  const char* name;
  int64_t block_size;
  int64_t block_bytes;
};

// Block layouts (GGUF spec): q4_0 = f16 d + 16 B nibbles; q4_1 = d, m + 16 B;
// q5_0 = d + 4 B high bits + 16 B; q5_1 = d, m + 4 B + 16 B; q8_0 = d + 32 B;
// k-quants use 256-element super-blocks.
const DTypeInfo kInfo[] = {
    {"f32", 1, 4},    {"f16", 1, 2},     {"bf16", 1, 2},     {"f64", 1, 8},      {"i8", 1, 1},       {"u8", 1, 1},       {"i16", 1, 2},
    {"i32", 1, 4},    {"i64", 1, 8},     {"bool", 1, 1},     {"q4_0", 32, 18},   {"q4_1", 32, 20},   {"q5_0", 32, 22},   {"q5_1", 32, 24},
    {"q8_0", 32, 34}, {"q2_K", 256, 84}, {"q3_K", 256, 110}, {"q4_K", 256, 144}, {"q5_K", 256, 176}, {"q6_K", 256, 210},
};
const DTypeInfo& info(DType t) { return kInfo[static_cast<int>(t)]; }
}  // namespace

const char* dtype_name(DType t) { return info(t).name; }

bool dtype_from_name(const std::string& name, DType* out) {
  for (size_t i = 0; i < sizeof(kInfo) / sizeof(kInfo[0]); ++i) {
    if (name == kInfo[i].name) {
      *out = static_cast<DType>(i);
      return true;
    }
  }
  return false;
}

int64_t dtype_block_size(DType t) { return info(t).block_size; }
int64_t dtype_block_bytes(DType t) { return info(t).block_bytes; }
bool dtype_is_quantized(DType t) { return info(t).block_size > 1; }
bool dtype_is_float(DType t) { return t == DType::F32 || t == DType::F16 || t == DType::BF16 || t == DType::F64; }

int64_t dtype_bytes_for(DType t, int64_t n) {
  const DTypeInfo& d = info(t);
  if (n < 0 || n % d.block_size != 0) return -1;
  int64_t blocks = n / d.block_size;
  if (blocks > std::numeric_limits<int64_t>::max() / d.block_bytes) return -1;
  return blocks * d.block_bytes;
}

float f16_to_f32(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ff;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      int e = -1;
      do {
        ++e;
        mant <<= 1;
      } while ((mant & 0x400) == 0);
      bits = sign | (uint32_t(127 - 15 - e) << 23) | ((mant & 0x3ff) << 13);
    }
  } else if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t f32_to_f16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000;
  uint32_t absx = x & 0x7fffffff;
  if (absx >= 0x7f800000u) {  // inf or nan
    return uint16_t(sign | 0x7c00 | (absx > 0x7f800000u ? 0x200 : 0));
  }
  if (absx >= 0x477ff000u) return uint16_t(sign | 0x7c00);  // rounds to inf
  if (absx < 0x38800000u) {                                 // subnormal half or zero
    if (absx < 0x33000000u) return uint16_t(sign);
    uint32_t e = absx >> 23;
    uint32_t m = (absx & 0x7fffff) | 0x800000;
    uint32_t shift = 126 - e;  // 14 + (113 - e)
    uint32_t half = m >> shift;
    uint32_t rem = m & ((1u << shift) - 1);
    uint32_t mid = 1u << (shift - 1);
    if (rem > mid || (rem == mid && (half & 1))) ++half;
    return uint16_t(sign | half);
  }
  uint32_t e = (absx >> 23) - 127 + 15;
  uint32_t m = absx & 0x7fffff;
  uint32_t h = (e << 10) | (m >> 13);
  uint32_t rem = m & 0x1fff;
  if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) ++h;
  return uint16_t(sign | h);
}

uint16_t f32_to_bf16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  if ((x & 0x7fffffff) > 0x7f800000u) return uint16_t((x >> 16) | 0x40);
  uint32_t lsb = (x >> 16) & 1;
  x += 0x7fff + lsb;
  return uint16_t(x >> 16);
}

}  // namespace sd
