// Internal: per-ISA entry points of the integer GEMM (quant_gemm.cpp).
// Both operands are in the "interleaved int8" layout: K is cut into blocks
// of 32 values, blocks into groups of 8 (256 values, zero-padded), and each
// group is stored as 8 vectors of 32 bytes, vector t holding bytes 4t..4t+3
// of blocks 0..7 in turn. A 32-byte multiply-add over vector t then leaves
// block L's partial dot product in 32-bit lane L, so 8 blocks get their
// integer sums, scales and offsets in one vector each.
#pragma once
#include <cstdint>

namespace sd {
namespace kern {

// One row of a quantized operand: q [groups * 256] (interleaved), per-block
// float scale d [groups * 8] and, for weights, the offset coefficient
// m [groups * 8] (w = d*q + m per value), for activations s = d * sum(q).
struct QRow {
  const int8_t* q;
  const float* d;
  const float* ms;
};

struct QuantTable {
  const char* name;
  // out[j] = sum over blocks b of d_w[b]*d_x[b]*isum_b + m_w[b]*s_x[b], for the
  // weight row w and activation rows x[0..4) (all four are read; callers pad
  // with a repeated row). Weight codes are unsigned 0..31 (`signed_w` false)
  // or int8 (q8_0); activation codes are int8 in [-127, 127]. Per block the
  // sum goes into lane b % 8 of a float accumulator with fma; the lanes are
  // added as ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7)), on every path alike.
  void (*dot_1x4)(int64_t groups, const QRow& w, bool signed_w, bool has_min, const QRow* x, float* out);
};

const QuantTable& quant_scalar_table();
const QuantTable* quant_avx2_table();
const QuantTable* quant_avx512_table();  // nullptr without AVX-512 VNNI
const QuantTable& quant_table();         // for the current cpu_path()

}  // namespace kern
}  // namespace sd
