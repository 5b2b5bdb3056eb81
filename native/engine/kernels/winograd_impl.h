// Internal: Winograd F(4x4, 3x3) and F(2x2, 3x3) transforms written once
// over a lane type V holding W floats (float with W = 1 for the scalar path,
// GCC vector types for AVX2 / AVX-512), and instantiated in each ISA's
// kernel file. F(4x4): points 0, 1, -1, 2, -2, inf (Lavin & Gray 2015):
//   U = G g G^T (6x6 from 3x3), V = B^T d B (6x6), Y = A^T (U .* V) A (4x4).
// F(2x2): points 0, 1, -1, inf: U 4x4, V 4x4, Y 2x2.
#pragma once
#include <cstdint>
#include <cstring>

namespace sd {
namespace kern {
namespace wino {

template <typename V>
inline V ld(const float* p) {
  V v;
  std::memcpy(&v, p, sizeof(V));
  return v;
}
template <typename V>
inline void st(float* p, V v) {
  std::memcpy(p, &v, sizeof(V));
}

// out = B^T in, 6 -> 6 (strides in elements of V).
template <typename V>
inline void bt6(const V* in, int s, V* out, int os) {
  V d0 = in[0], d1 = in[s], d2 = in[2 * s], d3 = in[3 * s], d4 = in[4 * s], d5 = in[5 * s];
  out[0] = 4.f * d0 - 5.f * d2 + d4;
  out[os] = -4.f * (d1 + d2) + d3 + d4;
  out[2 * os] = 4.f * (d1 - d2) - d3 + d4;
  out[3 * os] = 2.f * (d3 - d1) - d2 + d4;
  out[4 * os] = 2.f * (d1 - d3) - d2 + d4;
  out[5 * os] = 4.f * d1 - 5.f * d3 + d5;
}
// out = G g, 3 -> 6.
template <typename V>
inline void g6(const V* g, int s, V* out, int os) {
  V g0 = g[0], g1 = g[s], g2 = g[2 * s];
  V a = (g0 + g2) * (1.f / 6.f), b = g1 * (1.f / 6.f);
  V c = g0 * (1.f / 24.f) + g2 * (1.f / 6.f), d = g1 * (1.f / 12.f);
  out[0] = g0 * 0.25f;
  out[os] = -(a + b);
  out[2 * os] = b - a;
  out[3 * os] = c + d;
  out[4 * os] = c - d;
  out[5 * os] = g2;
}
// out = A^T m, 6 -> 4.
template <typename V>
inline void at4(const V* m, int s, V* out, int os) {
  V p12 = m[s] + m[2 * s], d12 = m[s] - m[2 * s], p34 = m[3 * s] + m[4 * s], d34 = m[3 * s] - m[4 * s];
  out[0] = m[0] + p12 + p34;
  out[os] = d12 + 2.f * d34;
  out[2 * os] = p12 + 4.f * p34;
  out[3 * os] = d12 + 8.f * d34 + m[5 * s];
}

// F(2x2, 3x3) 1-D transforms.
// out = B^T in, 4 -> 4.
template <typename V>
inline void bt4(const V* in, int s, V* out, int os) {
  V d0 = in[0], d1 = in[s], d2 = in[2 * s], d3 = in[3 * s];
  out[0] = d0 - d2;
  out[os] = d1 + d2;
  out[2 * os] = d2 - d1;
  out[3 * os] = d1 - d3;
}
// out = G g, 3 -> 4.
template <typename V>
inline void g4(const V* g, int s, V* out, int os) {
  V g0 = g[0], g1 = g[s], g2 = g[2 * s];
  V a = (g0 + g2) * 0.5f, b = g1 * 0.5f;
  out[0] = g0;
  out[os] = a + b;
  out[2 * os] = a - b;
  out[3 * os] = g2;
}
// out = A^T m, 4 -> 2.
template <typename V>
inline void at2(const V* m, int s, V* out, int os) {
  out[0] = m[0] + m[s] + m[2 * s];
  out[os] = m[s] - m[2 * s] - m[3 * s];
}

// The two tilings: output tile M x M from an A x A input patch (A = M + 2).
// Each names its 1-D transforms; the 2-D ones below apply them to rows, then columns.
struct F4x4 {
  static constexpr int M = 4, A = 6;
  template <typename V>
  static void bt(const V* in, int s, V* out, int os) {
    bt6(in, s, out, os);
  }
  template <typename V>
  static void g(const V* in, int s, V* out, int os) {
    g6(in, s, out, os);
  }
  template <typename V>
  static void at(const V* in, int s, V* out, int os) {
    at4(in, s, out, os);
  }
};
struct F2x2 {
  static constexpr int M = 2, A = 4;
  template <typename V>
  static void bt(const V* in, int s, V* out, int os) {
    bt4(in, s, out, os);
  }
  template <typename V>
  static void g(const V* in, int s, V* out, int os) {
    g4(in, s, out, os);
  }
  template <typename V>
  static void at(const V* in, int s, V* out, int os) {
    at2(in, s, out, os);
  }
};

// Kernels (i, l) for i < ni, l < nl, tap k (row-major 3x3) at
// g[i * g_stride + k * tap_stride + l] (kernels l along the lanes, as
// transpose_f32 leaves them) -> the A*A points u[xi * u_xi + i * u_stride + l].
template <typename T, typename V, int W>
void weights(const float* g, int64_t g_stride, int64_t tap_stride, int64_t ni, int64_t nl, float* u, int64_t u_stride, int64_t u_xi) {
  constexpr int A = T::A;
  for (int64_t i = 0; i < ni; ++i, g += g_stride, u += u_stride) {
    int64_t l0 = 0;
    for (; l0 + W <= nl; l0 += W) {
      V gv[9], t[3 * A], uu[A * A];
      for (int k = 0; k < 9; ++k) gv[k] = ld<V>(g + k * tap_stride + l0);
      for (int c = 0; c < 3; ++c) T::g(gv + c, 3, t + c, 3);
      for (int r = 0; r < A; ++r) T::g(t + r * 3, 1, uu + r * A, 1);
      for (int xi = 0; xi < A * A; ++xi) st(u + xi * u_xi + l0, uu[xi]);
    }
    for (; l0 < nl; ++l0) {
      float gs[9], t[3 * A], uu[A * A];
      for (int k = 0; k < 9; ++k) gs[k] = g[k * tap_stride + l0];
      for (int c = 0; c < 3; ++c) T::g(gs + c, 3, t + c, 3);
      for (int r = 0; r < A; ++r) T::g(t + r * 3, 1, uu + r * A, 1);
      for (int xi = 0; xi < A * A; ++xi) u[xi * u_xi + l0] = uu[xi];
    }
  }
}

// One channel plane xc [H, W] (padding pt/pl, zeros outside); tiles
// [t0, t0 + tn) of a grid tw wide (A x A patches at M * tile - padding)
// -> v[xi * v_stride + t].
template <typename T, typename V, int W>
void input(const float* xc, int64_t H, int64_t Wd, int pt, int pl, int64_t tw, int64_t t0, int64_t tn, float* v, int64_t v_stride) {
  constexpr int A = T::A, M = T::M;
  for (int64_t t = 0; t < tn; t += W) {
    const int nl = int(tn - t < W ? tn - t : W);
    float d[A * A][W];
    for (int l = 0; l < W; ++l) {
      const int64_t tile = t0 + t + (l < nl ? l : 0);
      const int64_t iy0 = (tile / tw) * M - pt, ix0 = (tile % tw) * M - pl;
      const bool inside = iy0 >= 0 && ix0 >= 0 && iy0 + A <= H && ix0 + A <= Wd;
      for (int r = 0; r < A; ++r) {
        const int64_t iy = iy0 + r;
        const float* row = xc + iy * Wd;
        for (int c = 0; c < A; ++c) {
          const int64_t ix = ix0 + c;
          d[r * A + c][l] = (inside || (iy >= 0 && iy < H && ix >= 0 && ix < Wd)) ? row[ix] : 0.f;
        }
      }
    }
    V dv[A * A], tmp[A * A], vv[A * A];
    for (int k = 0; k < A * A; ++k) dv[k] = ld<V>(d[k]);
    for (int c = 0; c < A; ++c) T::bt(dv + c, A, tmp + c, A);
    for (int r = 0; r < A; ++r) T::bt(tmp + r * A, 1, vv + r * A, 1);
    for (int xi = 0; xi < A * A; ++xi) {
      if (nl == W) {
        st(v + xi * v_stride + t, vv[xi]);
      } else {
        float lane[W];
        st(lane, vv[xi]);
        for (int l = 0; l < nl; ++l) v[xi * v_stride + t + l] = lane[l];
      }
    }
  }
}

// One output tile for n channels, vectorised over channels: m[xi * xi_stride
// + l] -> y[l * plane + r * Wo + c] = (A^T m A)[r][c] + bias[l] for r < rows,
// c < cols (y points at the tile's top-left pixel of the first channel).
template <typename T, typename V, int W>
void output(const float* m, int64_t xi_stride, int64_t n, const float* bias, float* y, int64_t plane, int64_t Wo, int rows, int cols) {
  constexpr int A = T::A, M = T::M;
  for (int64_t l0 = 0; l0 < n; l0 += W) {
    const int nl = int(n - l0 < W ? n - l0 : W);
    V mv[A * A], tmp[M * A], o[M * M];
    float lane[W] = {};
    for (int xi = 0; xi < A * A; ++xi) {
      if (nl == W) {
        mv[xi] = ld<V>(m + xi * xi_stride + l0);
      } else {
        for (int l = 0; l < nl; ++l) lane[l] = m[xi * xi_stride + l0 + l];
        mv[xi] = ld<V>(lane);
      }
    }
    for (int c = 0; c < A; ++c) T::at(mv + c, A, tmp + c, A);
    for (int r = 0; r < M; ++r) T::at(tmp + r * A, 1, o + r * M, 1);
    float bl[W] = {};
    if (bias)
      for (int l = 0; l < nl; ++l) bl[l] = bias[l0 + l];
    const V bv = ld<V>(bl);
    float out[M * M][W];
    for (int k = 0; k < M * M; ++k) st(out[k], o[k] + bv);
    for (int l = 0; l < nl; ++l) {
      float* yl = y + (l0 + l) * plane;
      for (int r = 0; r < rows; ++r)
        for (int c = 0; c < cols; ++c) yl[r * Wo + c] = out[r * M + c][l];
    }
  }
}

}  // namespace wino
}  // namespace kern
}  // namespace sd
