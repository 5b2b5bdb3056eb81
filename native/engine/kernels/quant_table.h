// Internal: per-ISA entry points of the integer GEMM (quant_gemm.cpp).
//
// Panel path (q8_0, q4_0, q5_0, q4_1, q5_1, q4_K, q5_K; quant_gemm.cpp).
// Activations: one row of nb blocks of 32 values, each block as 32 unsigned bytes u = q + o
// (q in [-qmax, qmax], o = qmax + 1, so u in [1, 2*qmax + 1]) and a float
// scale d (x ~ d*q). Weights: panels of 8 output columns; block b of a panel
// is 8 vectors of 32 bytes, vector t holding bytes 4t..4t+3 of the block's
// int8 codes for columns 0..7 in turn, plus per column a float scale and the
// offset correction o * sum(codes) (int32); q4_1 / q5_1 / q4_K / q5_K also a
// float block offset per column (w = d * code + off; a k-quant's 32-value
// sub-blocks are the blocks). One u8 x s8 multiply-add of a broadcast
// 4-byte activation group against vector t then feeds all 8 columns at once.
#pragma once
#include <cstdint>

#include "tensor/dtype.h"

namespace sd {
namespace kern {

// One 8-column weight panel of the panel path: q [nb * 256], d [nb * 8],
// corr [nb * 8], off [nb * 8] or nullptr (column c of block b at b * 8 + c).
struct QPanel {
  const int8_t* q;
  const float* d;
  const int32_t* corr;
  const float* off;
};

struct QuantTable {
  const char* name;
  // Panel path, activations: x [nb * 32] -> u [nb * 32], d [nb] with
  // d = amax/qmax per block, q = clamp(lrint(x * (1/d)), -qmax, qmax)
  // (q = 0 where amax = 0), u = q + qmax + 1.
  void (*quantize_act)(const float* x, int64_t nb, int qmax, uint8_t* u, float* d);

  // Panel path, 4 activation rows x one panel: out[r * 8 + c] = sum over
  // blocks b, in order, of acc = fma(float(isum), d_w[b][c] * d_x[r][b], acc)
  // with isum = sum_k u[r][b][k] * q_w[b][k][c] - corr[b][c] (exact), then,
  // where w.off is set (tables with `offsets` only), acc = fma(off[b][c],
  // xd[r][nb + b], acc): xd rows then hold nb scales and nb block sums
  // d * sum(q). All four rows are read (callers repeat a row to pad). `depth` is how many
  // 4-value steps of one block a 16-bit sum holds without saturating
  // (1, 2, 4 or 8; the caller's bound on |u| * |q_w|), 0 where one u8 x s8
  // pair can exceed 16 bits (8-bit activations x q8_0 codes): only tables
  // with `any_depth` take 0.
  void (*panel_4x8)(int64_t nb, int depth, const uint8_t* const* xu, const float* const* xd, const QPanel& w, float* out);
  bool any_depth;

  // y [n] = the n values (whole blocks) of a block-quantized row, bit for
  // bit quant::dequantize_row (each value is one exact product, or one
  // rounding of an exact product minus an exact min, so every path agrees);
  // formats without a vector decoder on this path call it.
  void (*dequantize)(DType t, const uint8_t* src, int64_t n, float* y);

  // panel_4x8 takes weight offsets (QPanel::off); tables without it are
  // not given q4_1 / q5_1 / q4_K / q5_K panels.
  bool offsets = false;

  // Panel path, 4- and 5-bit weights (q4_0, q4_1, q5_0, q5_1, q4_K, q5_K):
  // one panel from the rows of its 8 columns (cols[c] = the row of column c,
  // nullptr for a column past N: zero codes, scale and offset), nb blocks of
  // 32 values (for the k-quants, nb / 8 super-blocks): q [nb * 256], d
  // [nb * 8], corr [nb * 8] = 128 * sum(codes), off [nb * 8] (formats with
  // offsets only), as the driver's generic packing writes them. nullptr: the
  // driver packs.
  void (*pack_panel)(DType t, const uint8_t* const* cols, int64_t nb, int8_t* q, float* d, int32_t* corr, float* off) = nullptr;
};

// What the vector block readers of the 4- and 5-bit formats (q4_0, q4_1,
// q5_0, q5_1, q4_K, q5_K) need to know of a format's blocks.
struct LowBitLayout {
  bool kquant, five, one;  // 256-value super-blocks; a fifth bit per code; a stored min (the _1 formats)
  int bias;                // unsigned code - bias = the panels' signed code
  int64_t bytes;           // per block (k-quants: per super-block)
  explicit LowBitLayout(DType t)
      : kquant(t == DType::Q4_K || t == DType::Q5_K),
        five(t == DType::Q5_0 || t == DType::Q5_1 || t == DType::Q5_K),
        one(t == DType::Q4_1 || t == DType::Q5_1),
        bias(five ? 16 : 8),
        bytes(dtype_block_bytes(t)) {}
};

const QuantTable& quant_scalar_table();
const QuantTable* quant_avx2_table();
const QuantTable* quant_avx512_table();        // nullptr without AVX-512 VNNI
const QuantTable* quant_avxvnni_table();       // nullptr without AVX-VNNI (or a compiler without -mavxvnni)
const QuantTable* quant_neon_table();          // nullptr off arm64
const QuantTable* quant_neon_dotprod_table();  // nullptr without the arm64 dot-product extension
const QuantTable& quant_table();               // for the current cpu_path()

}  // namespace kern
}  // namespace sd
