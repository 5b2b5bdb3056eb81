// Internal: per-ISA entry points of the integer GEMM (quant_gemm.cpp).
//
// Panel path (q8_0, q4_0, q5_0, q4_1, q5_1; quant_gemm.cpp "panel" driver).
// Activations: one
// row of nb blocks of 32 values, each block as 32 unsigned bytes u = q + o
// (q in [-qmax, qmax], o = qmax + 1, so u in [1, 2*qmax + 1]) and a float
// scale d (x ~ d*q). Weights: panels of 8 output columns; block b of a panel
// is 8 vectors of 32 bytes, vector t holding bytes 4t..4t+3 of the block's
// int8 codes for columns 0..7 in turn, plus per column a float scale and the
// offset correction o * sum(codes) (int32); q4_1 / q5_1 also a float block
// offset per column (w = d * code + off). One u8 x s8 multiply-add of a
// broadcast 4-byte activation group against vector t then feeds all 8
// columns at once.
//
// Group path (q4_K, q5_K: codes with a per-block offset): both operands in the
// "interleaved int8" layout: K is cut into blocks of 32 values, blocks into
// groups of 8 (256 values, zero-padded), and each group is stored as 8
// vectors of 32 bytes, vector t holding bytes 4t..4t+3 of blocks 0..7 in
// turn. A 32-byte multiply-add over vector t then leaves block L's partial
// dot product in 32-bit lane L.
#pragma once
#include <cstdint>

#include "tensor/dtype.h"

namespace sd {
namespace kern {

// One row of a quantized operand of the group path: q [groups * 256]
// (interleaved), per-block float scale d [groups * 8] and, for weights, the
// offset coefficient m [groups * 8] (w = d*q + m per value), for activations
// s = d * sum(q).
struct QRow {
  const int8_t* q;
  const float* d;
  const float* ms;
};

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
  // Group path: out[j] = sum over blocks b of d_w[b]*d_x[b]*isum_b +
  // m_w[b]*s_x[b], for the weight row w and activation rows x[0..4) (all
  // four are read; callers pad with a repeated row). Weight codes are
  // unsigned 0..31; activation codes are int8 in [-127, 127]. Per block the
  // sum goes into lane b % 8 of a float accumulator with fma; the lanes are
  // added as ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7)), on every path alike.
  void (*dot_1x4)(int64_t groups, const QRow& w, const QRow* x, float* out);

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

  // y [nb * 32] = the values of nb q8_0 or q4_0 blocks (w = d * code, as
  // quant::dequantize_row; the products are exact, so every path agrees).
  void (*dequantize)(DType t, const uint8_t* src, int64_t nb, float* y);

  // panel_4x8 takes weight offsets (QPanel::off); tables without it are
  // not given q4_1 / q5_1 panels.
  bool offsets = false;

  // Panel path, q4_0 / q4_1 / q5_0 / q5_1 weights: one panel from the rows
  // of its 8 columns (cols[c] = nb blocks of type t, nullptr for a column
  // past N: zero codes, scale and offset): q [nb * 256], d [nb * 8], corr
  // [nb * 8] = 128 * sum(codes), off [nb * 8] (the _1 formats only), as the
  // driver's generic packing writes them. nullptr: the driver packs.
  void (*pack_panel)(DType t, const uint8_t* const* cols, int64_t nb, int8_t* q, float* d, int32_t* corr, float* off) = nullptr;
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
