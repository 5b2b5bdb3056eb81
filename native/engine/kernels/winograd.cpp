// Winograd convolution driver, one body for F(4x4, 3x3) and F(2x2, 3x3),
// fused so the transformed weights never go to memory (they are 4x (F4) or
// 1.8x (F2) the size of the f32 weights):
//   for each chunk of output tiles (all images of the batch together):
//     V[xi] = B^T d B of every input tile, packed as GEMM A [tiles, Cin]
//     per depth block;
//     in parallel over blocks of kCoBlock output channels:
//       for each depth block of Cin: U = G g G^T of those kernels
//       (block-quantized weights decoded for just this block first; then
//       transposed to output-channel lanes and converted from f16/bf16 in
//       L1-sized groups), packed as GEMM B panels, and
//       M[xi] += V[xi] U[xi] for all P points into a per-task accumulator;
//       Y = A^T M A + bias for the block's channels.
// Each output element is reduced in a fixed order whatever the thread count.
// Precision "fast" (Compute::bf16, where the path has the bf16 kernel), F(2x2)
// only: the same loops with V and U rounded to bf16 pairs over input
// channels and the point GEMMs on the bf16 micro-kernels (f32
// accumulation); the transforms stay f32.
#include "kernels/winograd.h"

#include <algorithm>

#include "kernels/gemm.h"
#include "kernels/gemm_bf16.h"
#include "kernels/kernel_table.h"
#include "kernels/op_checks.h"
#include "kernels/quant_table.h"
#include "kernels/scratch.h"
#include "tensor/tensor.h"
#include "tensor/thread_pool.h"

namespace sd {
namespace kern {
namespace {

constexpr int64_t kBufBytes = 8ll << 20;  // cap on each per-chunk input-transform buffer
constexpr int64_t kAccBytes = 2ll << 20;  // cap on F(4x4)'s per-task accumulator (few-channel convs: VAE conv_in)
constexpr int64_t kCoBlock = 32;          // output channels per task
constexpr int64_t kGroup = 8;             // input channels per weight transpose
constexpr int64_t kPad = 16;              // floats between U planes (L1 set conflicts)

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// What differs between the two tilings.
struct Tiling {
  int m;                                  // output tile side (4 or 2)
  int points;                             // transform points per tile, (m + 2)^2
  int64_t tiles_max;                      // tiles per chunk: bounds the per-task accumulator [points][tiles][kCoBlock]
  int64_t kc_max;                         // input channels per depth block (blocks are made equal)
  decltype(Table::wino_weights) weights;  // the tiling's transforms (kernel_table.h)
  decltype(Table::wino_input) input;
  decltype(Table::wino_output) output;
  // Precision "fast" may round the transformed operands to bf16: F(2x2)'s
  // transforms (coefficients <= 1) keep the error at a bf16 GEMM's (~4e-3
  // rel L2); F(4x4)'s (4, 5 and 8) amplify it ~6x (2.2-2.9e-2 measured, every
  // one of the 36 points contributing), so F(4x4) stays f32.
  bool bf16;
};

// Rows [co0, co0 + cn) x values [v0, v0 + nv) of a block-quantized weight
// [Cout, row values] -> dst [cn][ld] f32, returned pointing at value v0
// (the decode starts at v0's block).
const float* decode_rows(DType wt, const void* w, int64_t row_values, int64_t co0, int64_t cn, int64_t v0, int64_t nv, float* dst,
                         int64_t ld) {
  const int64_t bs = dtype_block_size(wt), b0 = v0 / bs, nblk = ceil_div(v0 + nv, bs) - b0;
  const int64_t row_bytes = dtype_bytes_for(wt, row_values), blk_bytes = dtype_bytes_for(wt, bs);
  const QuantTable& qt = quant_table();
  for (int64_t r = 0; r < cn; ++r)
    qt.dequantize(wt, static_cast<const uint8_t*>(w) + (co0 + r) * row_bytes + b0 * blk_bytes, nblk * bs, dst + r * ld);
  return dst + (v0 - b0 * bs);
}

// x [kc][tn] (channel-major rows, stride tn) as the bf16 A operand
// [tn tiles, kc channels]: pair panels [ceil(tn / mr)][ceil(kc / 2)][mr]
// (an odd kc's last pair and the rows past tn zero).
void pack_input_pairs(const Bf16Kernel& kt, const float* x, int64_t tn, int64_t kc, uint32_t* dst) {
  const int64_t kcp = ceil_div(kc, 2), mr = kt.mr, tv = tn / 16 * 16;
  uint32_t* row = reinterpret_cast<uint32_t*>(scratch(kSlotOp0, size_t(tn + 16)));  // one pair row [tn]
  for (int64_t p = 0; p < kcp; ++p) {
    const float* lo = x + 2 * p * tn;
    const bool half = 2 * p + 1 == kc;  // odd kc: the high halves are dropped below
    const float* hi = half ? lo : lo + tn;
    if (tv) kt.pack_rows(lo, hi, tv, 1.f, row);
    if (tv < tn) {  // the row tail through 16-value buffers (pack_rows reads whole vectors)
      float lt[16] = {}, ht[16] = {};
      std::copy(lo + tv, lo + tn, lt);
      std::copy(hi + tv, hi + tn, ht);
      kt.pack_rows(lt, ht, 16, 1.f, row + tv);
    }
    if (half)
      for (int64_t t = 0; t < tn; ++t) row[t] &= 0xffffu;
    for (int64_t t0 = 0; t0 < tn; t0 += mr) {
      uint32_t* d = dst + ((t0 / mr) * kcp + p) * mr;
      const int64_t n = std::min(mr, tn - t0);
      std::copy(row + t0, row + t0 + n, d);
      std::fill(d + n, d + mr, 0u);
    }
  }
}

// f32 B panels [panels][kc][nr] -> bf16 pair panels [panels][ceil(kc / 2)][nr].
void pack_weight_pairs(const Bf16Kernel& kt, const float* u, int64_t panels, int64_t kc, uint32_t* dst) {
  const int64_t kcp = ceil_div(kc, 2), nr = kt.nr;
  for (int64_t pc = 0; pc < panels; ++pc)
    for (int64_t p = 0; p < kcp; ++p) {
      const float* lo = u + (pc * kc + 2 * p) * nr;
      const bool half = 2 * p + 1 == kc;
      uint32_t* d = dst + (pc * kcp + p) * nr;
      kt.pack_rows(lo, half ? lo : lo + nr, nr, 1.f, d);
      if (half)
        for (int64_t j = 0; j < nr; ++j) d[j] &= 0xffffu;
    }
}

void run(const Tiling& tl, Compute& c, const float* x, int64_t B, int64_t Cin, int64_t H, int64_t W, const void* w, DType wt, int64_t Cout,
         const float* bias, int pt, int pl, float* y, int64_t Ho, int64_t Wo) {
  const Table& tab = table();
  ThreadPool* pool = c.pool;
  const int P = tl.points, Mt = tl.m;
  const int64_t tw = ceil_div(Wo, Mt), T = ceil_div(Ho, Mt) * tw, TT = B * T;
  const int64_t tb = std::max<int64_t>(1, std::min({TT, tl.tiles_max, kBufBytes / (P * 4 * Cin)}));
  const int64_t nr = gemm_nr();
  // precision "fast": the bf16 kernel, where the tiling allows it and the
  // kernel takes the weight transform's nr-wide panels.
  const Bf16Kernel* b16 = c.bf16 && tl.bf16 ? bf16_kernel() : nullptr;
  if (b16 && b16->nr != nr) b16 = nullptr;
  const int64_t mr = gemm_mr();
  const int64_t kblocks = ceil_div(Cin, tl.kc_max), kc_full = ceil_div(Cin, kblocks);  // equal depth blocks
  const int64_t kc_pairs = ceil_div(kc_full, 2);
  // One packed A depth block: f32 [tile panels][kc][mr] or bf16 pairs [tile panels][kc pairs][mr].
  const int64_t a_block = std::max(ceil_div(tb, mr) * mr * kc_full, b16 ? ceil_div(tb, b16->mr) * b16->mr * kc_pairs : 0);
  Tensor V = new_tensor(c, {P, Cin, tb});            // input transforms [xi][ci][t]
  Tensor VA = new_tensor(c, {P, kblocks, a_block});  // the same, packed as GEMM A [t, ci] per (xi, depth block)
  float* v = V.data_as<float>();
  float* va = VA.data_as<float>();
  const bool quantized = dtype_is_quantized(wt);
  const int64_t row_values = Cin * 9;
  const int64_t bs = dtype_block_size(wt), dec_ld = (ceil_div(kc_full * 9, bs) + 1) * bs;  // decoded row: whole blocks of a depth block

  for (int64_t t0 = 0; t0 < TT; t0 += tb) {
    const int64_t tn = std::min(tb, TT - t0);
    // V[xi][ci][t] = (B^T d B)[xi] for the input patch of tile t0 + t.
    parallel_for(pool, Cin, balanced_grain(Cin, 4), [&](int64_t c0, int64_t c1) {
      for (int64_t ci = c0; ci < c1; ++ci)
        for (int64_t t = 0; t < tn;) {
          const int64_t img = (t0 + t) / T, local = (t0 + t) % T, cnt = std::min(tn - t, T - local);
          tl.input(x + (img * Cin + ci) * H * W, H, W, pt, pl, tw, local, cnt, v + ci * tn + t, Cin * tn);
          t += cnt;
        }
    });
    parallel_for(pool, P * kblocks, 1, [&](int64_t j0, int64_t j1) {
      for (int64_t j = j0; j < j1; ++j) {
        const int64_t xi = j / kblocks, kb = j % kblocks, k0 = kb * kc_full;
        if (b16)
          pack_input_pairs(*b16, v + (xi * Cin + k0) * tn, tn, std::min(kc_full, Cin - k0), reinterpret_cast<uint32_t*>(va + j * a_block));
        else
          pack_a({v + xi * Cin * tn, DType::F32, 1, tn}, 0, tn, k0, std::min(kc_full, Cin - k0), va + j * a_block);
      }
    });
    parallel_for(pool, ceil_div(Cout, kCoBlock), 1, [&](int64_t b0, int64_t b1) {
      const int64_t panels_max = ceil_div(kCoBlock, nr);
      float* dec = quantized ? scratch(kSlotOp0, size_t(kCoBlock * dec_ld)) : nullptr;  // [co][values] decoded weights
      float* g = scratch(kSlotOp1, size_t(kGroup * 9 * kCoBlock));                      // [ci][9][co] f32 kernels
      float* u = scratch(kSlotOp2, size_t(P * (panels_max * nr * kc_full + kPad)));     // [xi][panel][kc][nr]
      float* m = scratch(kSlotOp3, size_t(P * tn * kCoBlock));                          // [xi][t][co], transform domain
      const int64_t ub_stride = panels_max * kc_pairs * nr;                             // bf16 U pairs [xi][panel][kc pairs][nr]
      uint32_t* ub = b16 ? reinterpret_cast<uint32_t*>(scratch(kSlotGemmB, size_t(P * ub_stride))) : nullptr;
      for (int64_t blk = b0; blk < b1; ++blk) {
        const int64_t co0 = blk * kCoBlock, cn = std::min(kCoBlock, Cout - co0), panels = ceil_div(cn, nr);
        for (int64_t kb = 0; kb < kblocks; ++kb) {
          const int64_t k0 = kb * kc_full, kc = std::min(kc_full, Cin - k0);
          const int64_t xi_stride = panels * nr * kc + kPad;  // the point planes, off power-of-two strides
          // The block's kernels as (pointer to ci = k0 of row co0, dtype, row stride): float weights in
          // place, block-quantized ones decoded.
          const void* src = quantized
                                ? decode_rows(wt, w, row_values, co0, cn, k0 * 9, kc * 9, dec, dec_ld)
                                : static_cast<const void*>(static_cast<const char*>(w) + (co0 * Cin + k0) * 9 * dtype_bytes_for(wt, 1));
          const DType st = quantized ? DType::F32 : wt;
          const int64_t ld = quantized ? dec_ld : row_values, sbytes = dtype_bytes_for(st, 1);
          for (int64_t c0 = 0; c0 < kc; c0 += kGroup) {
            // g[tap (ci, k)][co] for kGroup input channels (L1-sized), then their transforms.
            const int64_t gn = std::min(kGroup, kc - c0);
            tab.transpose_f32(st, static_cast<const char*>(src) + c0 * 9 * sbytes, ld, cn, gn * 9, g, kCoBlock);
            for (int64_t p = 0; p < panels; ++p)
              tl.weights(g + p * nr, 9 * kCoBlock, kCoBlock, gn, std::min(nr, cn - p * nr), u + (p * kc + c0) * nr, nr, xi_stride);
          }
          // M[xi] [tn, cn] (+)= V[xi] [tn, kc] @ U[xi] [kc, cn]
          for (int xi = 0; xi < P; ++xi) {
            float* mx = m + xi * tn * kCoBlock;
            const float* vx = va + (xi * kblocks + kb) * a_block;
            if (b16) {
              uint32_t* ux = ub + xi * ub_stride;
              pack_weight_pairs(*b16, u + xi * xi_stride, panels, kc, ux);
              gemm_bf16_packed(*b16, tn, cn, ceil_div(kc, 2), reinterpret_cast<const uint32_t*>(vx), ux, mx, kCoBlock, kb > 0);
            } else {
              gemm_packed(tn, cn, kc, vx, u + xi * xi_stride, mx, kCoBlock, kb > 0);
            }
          }
        }
        // y tile = A^T M A + bias, clipped at the bottom/right edges.
        for (int64_t t = 0; t < tn; ++t) {
          const int64_t img = (t0 + t) / T, local = (t0 + t) % T, oy = (local / tw) * Mt, ox = (local % tw) * Mt;
          tl.output(m + t * kCoBlock, tn * kCoBlock, cn, bias ? bias + co0 : nullptr, y + (img * Cout + co0) * Ho * Wo + oy * Wo + ox,
                    Ho * Wo, Wo, int(std::min<int64_t>(Mt, Ho - oy)), int(std::min<int64_t>(Mt, Wo - ox)));
        }
      }
    });
  }
}

}  // namespace

void conv3x3_winograd(Compute& c, const float* x, int64_t B, int64_t Cin, int64_t H, int64_t W, const void* w, DType wt, int64_t Cout,
                      const float* bias, int pt, int pl, float* y, int64_t Ho, int64_t Wo) {
  const Table& tab = table();
  // Depth blocks as the GEMM's own (packed B panel in L1).
  const Tiling f4{
      4, 36, kAccBytes / (36 * 4 * kCoBlock), packed_a_layout(1, Cin).kc_full, tab.wino_weights, tab.wino_input, tab.wino_output, false};
  run(f4, c, x, B, Cin, H, W, w, wt, Cout, bias, pt, pl, y, Ho, Wo);
}

void conv3x3_winograd_f2(Compute& c, const float* x, int64_t B, int64_t Cin, int64_t H, int64_t W, const void* w, DType wt, int64_t Cout,
                         const float* bias, int pt, int pl, float* y, int64_t Ho, int64_t Wo) {
  const Table& tab = table();
  // At most 128 tiles and 128 input channels: the accumulator 16 x tiles x kCoBlock
  // and the packed B block 16 x kc x kCoBlock stay in L2.
  const Tiling f2{2, 16, 128, 128, tab.wino2_weights, tab.wino2_input, tab.wino2_output, true};
  run(f2, c, x, B, Cin, H, W, w, wt, Cout, bias, pt, pl, y, Ho, Wo);
}

}  // namespace kern
}  // namespace sd
