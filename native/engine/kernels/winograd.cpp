#include "kernels/winograd.h"

#include <algorithm>
#include <cstring>

#include "kernels/gemm.h"
#include "kernels/kernel_table.h"
#include "tensor/tensor.h"
#include "tensor/thread_pool.h"

namespace sd {
namespace kern {
namespace {

constexpr int64_t kBufBytes = 32ll << 20;  // cap per transformed buffer
constexpr int64_t kWChunk = 256;           // kernels converted to f32 at a time

}  // namespace

void conv3x3_winograd(ThreadPool* pool, const float* x, int64_t Cin, int64_t H, int64_t W, const void* w, DType wt,
                      int64_t Cout, const float* bias, int pt, int pl, float* y, int64_t Ho, int64_t Wo) {
  const Table& tab = table();
  const int64_t th = (Ho + 3) / 4, tw = (Wo + 3) / 4, T = th * tw;
  // Output-channel block so U [36, cb, Cin] stays under the cap; tile chunk
  // so V [36, Cin, tb] does too.
  const int64_t cb = std::max<int64_t>(1, std::min<int64_t>(Cout, kBufBytes / (36 * 4 * Cin)));
  const int64_t tb = std::max<int64_t>(1, std::min<int64_t>(T, kBufBytes / (36 * 4 * Cin)));
  Tensor U = Tensor::empty(DType::F32, {36, cb, Cin});  // transformed weights
  Tensor V = Tensor::empty(DType::F32, {36, Cin, tb});  // transformed input tiles
  Tensor Mt = Tensor::empty(DType::F32, {36, cb, tb});  // products, transform domain
  float* u = U.data_as<float>();
  float* v = V.data_as<float>();
  float* mt = Mt.data_as<float>();
  const size_t wbytes = wt == DType::F32 ? 4 : 2;

  // U[xi][co][ci] for output channels [co0, co0 + cn): flat index co*Cin+ci
  // is contiguous both in w and in each U[xi].
  auto transform_weights = [&](int64_t co0, int64_t cn) {
    const int64_t n = cn * Cin;
    parallel_for(pool, (n + kWChunk - 1) / kWChunk, 1, [&](int64_t c0, int64_t c1) {
      float g[kWChunk * 9];
      for (int64_t ch = c0; ch < c1; ++ch) {
        const int64_t i = ch * kWChunk, len = std::min(kWChunk, n - i);
        tab.convert_to_f32(wt, static_cast<const char*>(w) + (co0 * Cin + i) * 9 * wbytes, len * 9, g);
        tab.wino_weights(g, len, u + i, cb * Cin);
      }
    });
  };

  const int64_t cblocks = (Cout + cb - 1) / cb;
  if (cblocks == 1) transform_weights(0, Cout);
  for (int64_t t0 = 0; t0 < T; t0 += tb) {
    const int64_t tn = std::min(tb, T - t0);
    // V[xi][ci][t] = (B^T d B)[xi] for the 6x6 input patch of tile t.
    parallel_for(pool, Cin, balanced_grain(Cin, 4), [&](int64_t c0, int64_t c1) {
      for (int64_t ci = c0; ci < c1; ++ci)
        tab.wino_input(x + ci * H * W, H, W, pt, pl, tw, t0, tn, v + ci * tn, Cin * tn);
    });
    for (int64_t co0 = 0; co0 < Cout; co0 += cb) {
      const int64_t cn = std::min(cb, Cout - co0);
      if (cblocks > 1) transform_weights(co0, cn);
      // M[xi] [cn, tn] = U[xi] [cn, Cin] @ V[xi] [Cin, tn]: one task per xi.
      parallel_for(pool, 36, 1, [&](int64_t x0, int64_t x1) {
        for (int64_t xi = x0; xi < x1; ++xi)
          gemm(nullptr, cn, tn, Cin, {u + xi * cb * Cin, DType::F32, Cin, 1}, {v + xi * Cin * tn, DType::F32, tn, 1},
               mt + xi * cb * tn, tn);
      });
      // y tile = A^T M A + bias, clipped at the bottom/right edges.
      parallel_for(pool, cn, balanced_grain(cn, 2), [&](int64_t o0, int64_t o1) {
        for (int64_t co = o0; co < o1; ++co)
          tab.wino_output(mt + co * tn, cb * tn, tw, t0, tn, bias ? bias[co0 + co] : 0.f, y + (co0 + co) * Ho * Wo, Ho,
                          Wo);
      });
    }
  }
}

}  // namespace kern
}  // namespace sd
