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

// out = B^T in (6 points 0, 1, -1, 2, -2, inf).
inline void bt6(const float* in, int64_t s, float* out, int64_t os) {
  float d0 = in[0], d1 = in[s], d2 = in[2 * s], d3 = in[3 * s], d4 = in[4 * s], d5 = in[5 * s];
  out[0] = 4.f * d0 - 5.f * d2 + d4;
  out[os] = -4.f * d1 - 4.f * d2 + d3 + d4;
  out[2 * os] = 4.f * d1 - 4.f * d2 - d3 + d4;
  out[3 * os] = -2.f * d1 - d2 + 2.f * d3 + d4;
  out[4 * os] = 2.f * d1 - d2 - 2.f * d3 + d4;
  out[5 * os] = 4.f * d1 - 5.f * d3 + d5;
}
// out = G g (3 -> 6).
inline void g6(const float* g, int64_t s, float* out, int64_t os) {
  float g0 = g[0], g1 = g[s], g2 = g[2 * s];
  out[0] = g0 * 0.25f;
  out[os] = -(g0 + g1 + g2) * (1.f / 6.f);
  out[2 * os] = -(g0 - g1 + g2) * (1.f / 6.f);
  out[3 * os] = g0 * (1.f / 24.f) + g1 * (1.f / 12.f) + g2 * (1.f / 6.f);
  out[4 * os] = g0 * (1.f / 24.f) - g1 * (1.f / 12.f) + g2 * (1.f / 6.f);
  out[5 * os] = g2;
}
// out = A^T m (6 -> 4).
inline void at4(const float* m, int64_t s, float* out, int64_t os) {
  float m0 = m[0], m1 = m[s], m2 = m[2 * s], m3 = m[3 * s], m4 = m[4 * s], m5 = m[5 * s];
  float p12 = m1 + m2, d12 = m1 - m2, p34 = m3 + m4, d34 = m3 - m4;
  out[0] = m0 + p12 + p34;
  out[os] = d12 + 2.f * d34;
  out[2 * os] = p12 + 4.f * p34;
  out[3 * os] = d12 + 8.f * d34 + m5;
}

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

  auto transform_weights = [&](int64_t co0, int64_t cn) {
    parallel_for(pool, cn * Cin, balanced_grain(cn * Cin, 64), [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        const int64_t co = i / Cin, ci = i % Cin;
        float g[9], tmp[18], uu[36];
        tab.convert_to_f32(wt, static_cast<const char*>(w) + ((co0 + co) * Cin + ci) * 9 * wbytes, 9, g);
        for (int c = 0; c < 3; ++c) g6(g + c, 3, tmp + c, 3);    // tmp [6][3] = G g
        for (int r = 0; r < 6; ++r) g6(tmp + r * 3, 1, uu + r * 6, 1);  // uu [6][6] = (G g) G^T
        for (int xi = 0; xi < 36; ++xi) u[(xi * cb + co) * Cin + ci] = uu[xi];
      }
    });
  };

  const int64_t cblocks = (Cout + cb - 1) / cb;
  if (cblocks == 1) transform_weights(0, Cout);
  for (int64_t t0 = 0; t0 < T; t0 += tb) {
    const int64_t tn = std::min(tb, T - t0);
    // V[xi][ci][t] = (B^T d B)[xi] for the 6x6 input patch of tile t.
    parallel_for(pool, Cin, balanced_grain(Cin, 4), [&](int64_t c0, int64_t c1) {
      for (int64_t ci = c0; ci < c1; ++ci) {
        const float* xc = x + ci * H * W;
        for (int64_t t = 0; t < tn; ++t) {
          const int64_t ty = (t0 + t) / tw, tx = (t0 + t) % tw;
          const int64_t iy0 = ty * 4 - pt, ix0 = tx * 4 - pl;
          float d[36], tmp[36], vv[36];
          for (int r = 0; r < 6; ++r) {
            const int64_t iy = iy0 + r;
            for (int cc = 0; cc < 6; ++cc) {
              const int64_t ix = ix0 + cc;
              d[r * 6 + cc] = (iy >= 0 && iy < H && ix >= 0 && ix < W) ? xc[iy * W + ix] : 0.f;
            }
          }
          for (int cc = 0; cc < 6; ++cc) bt6(d + cc, 6, tmp + cc, 6);
          for (int r = 0; r < 6; ++r) bt6(tmp + r * 6, 1, vv + r * 6, 1);
          for (int xi = 0; xi < 36; ++xi) v[(xi * Cin + ci) * tn + t] = vv[xi];
        }
      }
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
        for (int64_t co = o0; co < o1; ++co) {
          const float bv = bias ? bias[co0 + co] : 0.f;
          float* yc = y + (co0 + co) * Ho * Wo;
          for (int64_t t = 0; t < tn; ++t) {
            float m[36], tmp[24], o[16];
            for (int xi = 0; xi < 36; ++xi) m[xi] = mt[(xi * cb + co) * tn + t];
            for (int cc = 0; cc < 6; ++cc) at4(m + cc, 6, tmp + cc, 6);   // tmp [4][6]
            for (int r = 0; r < 4; ++r) at4(tmp + r * 6, 1, o + r * 4, 1);  // o [4][4]
            const int64_t ty = (t0 + t) / tw, tx = (t0 + t) % tw;
            for (int r = 0; r < 4 && ty * 4 + r < Ho; ++r)
              for (int cc = 0; cc < 4 && tx * 4 + cc < Wo; ++cc) yc[(ty * 4 + r) * Wo + tx * 4 + cc] = o[r * 4 + cc] + bv;
          }
        }
      });
    }
  }
}

}  // namespace kern
}  // namespace sd
