// Winograd F(2x2, 3x3) convolution for small maps. At 8x8 an F(4x4) GEMM has
// only 4 tile rows per image, so the per-call weight transform and the
// partly empty register tiles dominate; 2x2 tiles give 16 rows per image
// and a transform of 16 (not 36) points per kernel.
//   for each chunk of output tiles (all images of the batch together):
//     V[xi] = B^T d B of every input tile, packed as GEMM A [tiles, Cin];
//     in parallel over blocks of kCoBlock output channels:
//       for each depth block of kKc input channels: U = G g G^T of those
//       kernels (transposed to output-channel lanes and converted from
//       f16/bf16 in L1-sized groups first), packed as GEMM B panels
//       small enough for L2 (16 x kKc x kCoBlock floats), and
//       M[xi] += V[xi] U[xi] for the 16 xi into a per-task accumulator;
//       Y = A^T M A + bias for the block's channels.
// Each output element is reduced in a fixed order whatever the thread count.
#include <algorithm>

#include "kernels/gemm.h"
#include "kernels/kernel_table.h"
#include "kernels/op_checks.h"
#include "kernels/scratch.h"
#include "kernels/winograd.h"
#include "tensor/tensor.h"
#include "tensor/thread_pool.h"

namespace sd {
namespace kern {
namespace {

constexpr int64_t kBufBytes = 8ll << 20;  // cap on the input-transform buffers
constexpr int64_t kMaxTiles = 128;        // tiles per chunk: the accumulator 16 x tiles x kCoBlock stays in L2
constexpr int64_t kCoBlock = 32;          // output channels per task
constexpr int64_t kKc = 128;              // input channels per depth block
constexpr int64_t kPad = 16;              // floats between U planes (L1 set conflicts)
constexpr int64_t kGroup = 8;             // input channels per weight transpose

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

}  // namespace

void conv3x3_winograd_f2(Compute& c, const float* x, int64_t B, int64_t Cin, int64_t H, int64_t W, const void* w, DType wt, int64_t Cout,
                         const float* bias, int pt, int pl, float* y, int64_t Ho, int64_t Wo) {
  const Table& tab = table();
  ThreadPool* pool = c.pool;
  const int64_t tw = (Wo + 1) / 2, T = ((Ho + 1) / 2) * tw, TT = B * T;
  const int64_t tb = std::max<int64_t>(1, std::min({TT, kMaxTiles, kBufBytes / (16 * 4 * Cin)}));
  const int64_t mr = gemm_mr(), nr = gemm_nr();
  const int64_t kblocks = ceil_div(Cin, kKc), kc_full = ceil_div(Cin, kblocks);  // equal depth blocks
  const int64_t a_block = ceil_div(tb, mr) * mr * kc_full;                       // one packed A depth block
  Tensor V = new_tensor(c, {16, Cin, tb});                                       // input transforms [xi][ci][t]
  Tensor VA = new_tensor(c, {16, kblocks, a_block});                             // the same, packed as GEMM A [t, ci] per (xi, depth block)
  float* v = V.data_as<float>();
  float* va = VA.data_as<float>();
  const size_t wbytes = wt == DType::F32 ? 4 : 2;

  for (int64_t t0 = 0; t0 < TT; t0 += tb) {
    const int64_t tn = std::min(tb, TT - t0);
    // Per depth block (one parallel region: these are short):
    // V[xi][ci][t] = (B^T d B)[xi] for the 4x4 input patch of tile t0 + t,
    // then packed for the 16 GEMMs.
    parallel_for(pool, kblocks, 1, [&](int64_t b0, int64_t b1) {
      for (int64_t kb = b0; kb < b1; ++kb) {
        const int64_t k0 = kb * kc_full, kc = std::min(kc_full, Cin - k0);
        for (int64_t ci = k0; ci < k0 + kc; ++ci)
          for (int64_t t = 0; t < tn;) {
            const int64_t img = (t0 + t) / T, local = (t0 + t) % T, cnt = std::min(tn - t, T - local);
            tab.wino2_input(x + (img * Cin + ci) * H * W, H, W, pt, pl, tw, local, cnt, v + ci * tn + t, Cin * tn);
            t += cnt;
          }
        for (int64_t xi = 0; xi < 16; ++xi)
          pack_a({v + xi * Cin * tn, DType::F32, 1, tn}, 0, tn, k0, kc, va + (xi * kblocks + kb) * a_block);
      }
    });
    parallel_for(pool, ceil_div(Cout, kCoBlock), 1, [&](int64_t b0, int64_t b1) {
      const int64_t panels_max = ceil_div(kCoBlock, nr);
      float* g = scratch(kSlotOp0, size_t(kGroup * 9 * kCoBlock));                    // [ci][9][co] f32 kernels
      float* u = scratch(kSlotOp1, size_t(16 * (panels_max * nr * kc_full + kPad)));  // [xi][panel][kc][nr]
      float* m = scratch(kSlotOp2, size_t(16 * tn * kCoBlock));                       // [xi][t][co], transform domain
      for (int64_t blk = b0; blk < b1; ++blk) {
        const int64_t co0 = blk * kCoBlock, cn = std::min(kCoBlock, Cout - co0), panels = ceil_div(cn, nr);
        for (int64_t kb = 0; kb < kblocks; ++kb) {
          const int64_t k0 = kb * kc_full, kc = std::min(kc_full, Cin - k0);
          const int64_t xi_stride = panels * nr * kc + kPad;  // the 16 point planes, off power-of-two strides
          for (int64_t c0 = 0; c0 < kc; c0 += kGroup) {
            // g[tap (ci, k)][co] for kGroup input channels (L1-sized), then their transforms.
            const int64_t gn = std::min(kGroup, kc - c0);
            tab.transpose_f32(wt, static_cast<const char*>(w) + (co0 * Cin + k0 + c0) * 9 * wbytes, Cin * 9, cn, gn * 9, g, kCoBlock);
            for (int64_t p = 0; p < panels; ++p)
              tab.wino2_weights(g + p * nr, 9 * kCoBlock, kCoBlock, gn, std::min(nr, cn - p * nr), u + (p * kc + c0) * nr, nr, xi_stride);
          }
          // M[xi] [tn, cn] (+)= V[xi] [tn, kc] @ U[xi] [kc, cn]
          for (int xi = 0; xi < 16; ++xi)
            gemm_packed(tn, cn, kc, va + (xi * kblocks + kb) * a_block, u + xi * xi_stride, m + xi * tn * kCoBlock, kCoBlock, kb > 0);
        }
        // y tile = A^T M A + bias, clipped at the bottom/right edges.
        for (int64_t t = 0; t < tn; ++t) {
          const int64_t img = (t0 + t) / T, local = (t0 + t) % T, oy = (local / tw) * 2, ox = (local % tw) * 2;
          tab.wino2_output(m + t * kCoBlock, tn * kCoBlock, cn, bias ? bias + co0 : nullptr,
                           y + (img * Cout + co0) * Ho * Wo + oy * Wo + ox, Ho * Wo, Wo, int(std::min<int64_t>(2, Ho - oy)),
                           int(std::min<int64_t>(2, Wo - ox)));
        }
      }
    });
  }
}

}  // namespace kern
}  // namespace sd
