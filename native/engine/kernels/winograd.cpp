// Winograd F(4x4, 3x3) convolution, fused so the transformed weights never
// go to memory (they are 4x the size of the f32 weights):
//   for each chunk of output tiles (all images of the batch together):
//     V[xi] = B^T d B of every input tile, packed as GEMM A [tiles, Cin];
//     in parallel over blocks of kCoBlock output channels:
//       for each depth block of Cin: U = G g G^T of those kernels
//       (transposed to output-channel lanes and converted from f16/bf16 in
//       L1-sized groups first), packed as GEMM B panels, and
//       M[xi] += V[xi] U[xi] for all 36 xi;
//       Y = A^T M A + bias for the block's channels.
// Each output element is reduced in a fixed order whatever the thread count.
#include "kernels/winograd.h"

#include <algorithm>

#include "kernels/gemm.h"
#include "kernels/kernel_table.h"
#include "kernels/op_checks.h"
#include "kernels/scratch.h"
#include "tensor/tensor.h"
#include "tensor/thread_pool.h"

namespace sd {
namespace kern {
namespace {

constexpr int64_t kBufBytes = 8ll << 20;  // cap on each per-chunk buffer
constexpr int64_t kCoBlock = 32;          // output channels per task
constexpr int64_t kGroup = 8;             // input channels per weight transpose
constexpr int64_t kPad = 16;              // floats between U planes (L1 set conflicts)

}  // namespace

void conv3x3_winograd(Compute& c, const float* x, int64_t B, int64_t Cin, int64_t H, int64_t W, const void* w, DType wt, int64_t Cout,
                      const float* bias, int pt, int pl, float* y, int64_t Ho, int64_t Wo) {
  const Table& tab = table();
  ThreadPool* pool = c.pool;
  const int64_t tw = (Wo + 3) / 4, T = ((Ho + 3) / 4) * tw, TT = B * T;
  const int64_t tb = std::max<int64_t>(1, std::min<int64_t>(TT, kBufBytes / (36 * 4 * std::max(Cin, Cout))));
  const PackedA va_full = packed_a_layout(tb, Cin);
  Tensor V = new_tensor(c, {36, Cin, tb});          // input transforms [xi][ci][t]
  Tensor VA = new_tensor(c, {36, va_full.size()});  // the same, packed as GEMM A [t, ci] per xi
  Tensor Mt = new_tensor(c, {36, tb, Cout});        // products [xi][t][co], transform domain
  float* v = V.data_as<float>();
  float* va = VA.data_as<float>();
  float* mt = Mt.data_as<float>();
  const size_t wbytes = wt == DType::F32 ? 4 : 2;
  const int64_t nr = gemm_nr(), kc_full = packed_a_layout(1, Cin).kc_full, kblocks = (Cin + kc_full - 1) / kc_full;

  for (int64_t t0 = 0; t0 < TT; t0 += tb) {
    const int64_t tn = std::min(tb, TT - t0);
    const PackedA la = packed_a_layout(tn, Cin);
    // V[xi][ci][t] = (B^T d B)[xi] for the 6x6 input patch of tile t0 + t.
    parallel_for(pool, Cin, balanced_grain(Cin, 4), [&](int64_t c0, int64_t c1) {
      for (int64_t ci = c0; ci < c1; ++ci)
        for (int64_t t = 0; t < tn;) {
          const int64_t img = (t0 + t) / T, local = (t0 + t) % T, cnt = std::min(tn - t, T - local);
          tab.wino_input(x + (img * Cin + ci) * H * W, H, W, pt, pl, tw, local, cnt, v + ci * tn + t, Cin * tn);
          t += cnt;
        }
    });
    parallel_for(pool, 36, 1, [&](int64_t x0, int64_t x1) {
      for (int64_t xi = x0; xi < x1; ++xi)
        for (int64_t kb = 0; kb < kblocks; ++kb) {
          const int64_t k0 = kb * kc_full;
          pack_a({v + xi * Cin * tn, DType::F32, 1, tn}, 0, tn, k0, std::min(kc_full, Cin - k0),
                 va + xi * va_full.size() + la.offset(0, k0));
        }
    });
    const int64_t cblocks = (Cout + kCoBlock - 1) / kCoBlock;
    parallel_for(pool, cblocks, 1, [&](int64_t b0, int64_t b1) {
      const int64_t panels_max = (kCoBlock + nr - 1) / nr;
      float* g = scratch(kSlotOp2, size_t(kGroup * 9 * kCoBlock));                    // [ci][9][co] f32 kernels
      float* u = scratch(kSlotOp3, size_t(36 * (panels_max * nr * kc_full + kPad)));  // [xi][panel][kc][nr]
      for (int64_t blk = b0; blk < b1; ++blk) {
        const int64_t co0 = blk * kCoBlock, cn = std::min(kCoBlock, Cout - co0), panels = (cn + nr - 1) / nr;
        for (int64_t kb = 0; kb < kblocks; ++kb) {
          const int64_t k0 = kb * kc_full, kc = std::min(kc_full, Cin - k0);
          const int64_t xi_stride = panels * nr * kc + kPad;  // the 36 point planes, off power-of-two strides
          for (int64_t c0 = 0; c0 < kc; c0 += kGroup) {
            // g[tap (ci, k)][co] for kGroup input channels (L1-sized), then their transforms.
            const int64_t gn = std::min(kGroup, kc - c0);
            tab.transpose_f32(wt, static_cast<const char*>(w) + (co0 * Cin + k0 + c0) * 9 * wbytes, Cin * 9, cn, gn * 9, g, kCoBlock);
            for (int64_t p = 0; p < panels; ++p)
              tab.wino_weights(g + p * nr, 9 * kCoBlock, kCoBlock, gn, std::min(nr, cn - p * nr), u + (p * kc + c0) * nr, nr, xi_stride);
          }
          // M[xi] [tn, cn] (+)= V[xi] [tn, kc] @ U[xi] [kc, cn]
          for (int xi = 0; xi < 36; ++xi)
            gemm_packed(tn, cn, kc, va + xi * va_full.size() + la.offset(0, k0), u + xi * xi_stride, mt + xi * tb * Cout + co0, Cout,
                        kb > 0);
        }
        // y tile = A^T M A + bias, clipped at the bottom/right edges.
        for (int64_t t = 0; t < tn; ++t) {
          const int64_t img = (t0 + t) / T, local = (t0 + t) % T, oy = (local / tw) * 4, ox = (local % tw) * 4;
          tab.wino_output(mt + t * Cout + co0, tb * Cout, cn, bias ? bias + co0 : nullptr, y + (img * Cout + co0) * Ho * Wo + oy * Wo + ox,
                          Ho * Wo, Wo, int(std::min<int64_t>(4, Ho - oy)), int(std::min<int64_t>(4, Wo - ox)));
        }
      }
    });
  }
}

}  // namespace kern
}  // namespace sd
