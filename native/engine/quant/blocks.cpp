#include "quant/blocks.h"

#include <string>

#include "core/error.h"
#include "quant/block_codecs.h"

namespace sd {
namespace quant {
namespace {

struct Codec {
  void (*quantize)(const float*, uint8_t*);
  void (*dequantize)(const uint8_t*, float*);
  double bound;  // measured on N(0, 1) rows with margin (test_quant_formats)
};

bool codec(DType t, Codec* c) {
  switch (t) {
    case DType::Q8_0: *c = {quantize_q8_0, dequantize_q8_0, 0.01}; return true;
    case DType::Q4_0: *c = {quantize_q4_0, dequantize_q4_0, 0.14}; return true;
    case DType::Q4_1: *c = {quantize_q4_1, dequantize_q4_1, 0.1}; return true;
    case DType::Q5_0: *c = {quantize_q5_0, dequantize_q5_0, 0.07}; return true;
    case DType::Q5_1: *c = {quantize_q5_1, dequantize_q5_1, 0.05}; return true;
    case DType::Q2_K: *c = {quantize_q2_K, dequantize_q2_K, 0.4}; return true;
    case DType::Q3_K: *c = {quantize_q3_K, dequantize_q3_K, 0.2}; return true;
    case DType::Q4_K: *c = {quantize_q4_K, dequantize_q4_K, 0.1}; return true;
    case DType::Q5_K: *c = {quantize_q5_K, dequantize_q5_K, 0.05}; return true;
    case DType::Q6_K: *c = {quantize_q6_K, dequantize_q6_K, 0.025}; return true;
    default: return false;
  }
}

Codec require_codec(DType t, int64_t n, const char* what) {
  Codec c;
  if (!codec(t, &c)) fail(ErrorCode::Internal, std::string(what) + ": " + dtype_name(t) + " is not a block format");
  if (n % dtype_block_size(t) != 0)
    fail(ErrorCode::Internal, std::string(what) + ": " + std::to_string(n) + " values are not whole " + dtype_name(t) + " blocks");
  return c;
}

}  // namespace

bool is_block_format(DType t) {
  Codec c;
  return codec(t, &c);
}

void quantize_row(DType t, const float* x, int64_t n, void* dst) {
  const Codec c = require_codec(t, n, "quantize_row");
  const int64_t bs = dtype_block_size(t), bb = dtype_block_bytes(t);
  uint8_t* out = static_cast<uint8_t*>(dst);
  for (int64_t i = 0; i < n / bs; ++i) c.quantize(x + i * bs, out + i * bb);
}

void dequantize_row(DType t, const void* src, int64_t n, float* y) {
  const uint8_t* in = static_cast<const uint8_t*>(src);
  switch (t) {
    case DType::F32: std::memcpy(y, src, static_cast<size_t>(n) * 4); return;
    case DType::F16:
      for (int64_t i = 0; i < n; ++i) y[i] = rd_half(in + 2 * i);
      return;
    case DType::BF16:
      for (int64_t i = 0; i < n; ++i) y[i] = bf16_to_f32(static_cast<uint16_t>(in[2 * i] | (in[2 * i + 1] << 8)));
      return;
    default: break;
  }
  const Codec c = require_codec(t, n, "dequantize_row");
  const int64_t bs = dtype_block_size(t), bb = dtype_block_bytes(t);
  for (int64_t i = 0; i < n / bs; ++i) c.dequantize(in + i * bb, y + i * bs);
}

void convert_row(DType from, const void* src, DType to, int64_t n, void* dst, float* scratch) {
  dequantize_row(from, src, n, scratch);
  uint8_t* d = static_cast<uint8_t*>(dst);
  if (to == DType::F32) {
    std::memcpy(d, scratch, static_cast<size_t>(n) * 4);
  } else if (to == DType::F16 || to == DType::BF16) {
    for (int64_t i = 0; i < n; ++i) {
      const uint16_t h = to == DType::F16 ? f32_to_f16(scratch[i]) : f32_to_bf16(scratch[i]);
      d[2 * i] = static_cast<uint8_t>(h);
      d[2 * i + 1] = static_cast<uint8_t>(h >> 8);
    }
  } else {
    quantize_row(to, scratch, n, dst);
  }
}

double rel_l2_bound(DType t) {
  Codec c;
  if (dtype_is_float(t)) return t == DType::F32 ? 0.0 : t == DType::F16 ? 1e-3 : 8e-3;
  return codec(t, &c) ? c.bound : 1.0;
}

}  // namespace quant
}  // namespace sd
