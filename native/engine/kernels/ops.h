// The op interface that model code calls. Every op takes f32 activations
// (contiguous Tensors) and weights in whatever dtype they are stored in
// (f32 / f16 / bf16, later block-quantized), and returns a new f32 tensor.
// The CPU implementation dispatches at run time to scalar / AVX2 / AVX-512
// kernels (cpu_features.h); a future CUDA/Metal backend plugs in under these
// same functions, so models never change.
//
// Shapes follow PyTorch: outermost first. Images are NCHW.
#pragma once
#include <cstdint>

#include "tensor/tensor.h"

namespace sd {

class ThreadPool;
class Arena;
class GroupNormSession;

// Wall time and call count per op family, accumulated by the ops when a
// Compute carries one (the calling thread updates it; not thread-safe).
struct OpTimers {
  enum Op { Linear, Conv2d, Attention, Norm, Elementwise, Layout, kCount };
  double seconds[kCount] = {};
  int64_t calls[kCount] = {};
  static const char* name(int op);  // "linear", "conv2d", ...
};

// Per-call compute context: which threads to use, where op outputs and
// kernel temporaries are allocated, and optional op timers.
struct Compute {
  ThreadPool* pool = nullptr;  // nullptr: run on the calling thread
  Arena* arena = nullptr;      // nullptr: plain heap (Tensor::empty)
  OpTimers* timers = nullptr;  // nullptr: no timing
  // precision "fast": where the CPU path has the bf16 GEMM, linear(),
  // attention()'s products and F(2x2) Winograd conv2d()s run on it (operands
  // rounded to bf16, f32 accumulation).
  bool bf16 = false;
  GroupNormSession* group_norm_stats = nullptr;  // tiled VAE decode: shared GroupNorm statistics (models/group_norm_session.h)
};

namespace ops {

// y[..., N] = x[..., K] @ w[N, K]^T + b[N]. w: f32/f16/bf16 (PyTorch Linear layout).
Tensor linear(Compute& c, const Tensor& x, const Tensor& w, const Tensor* b);

// x [B, Cin, H, W]; w [Cout, Cin, kh, kw] (kh = kw = 1 or 3); b [Cout] or null.
// Padding (top, left, bottom, right) may be asymmetric (VAE encoder: 0,0,1,1).
Tensor conv2d(Compute& c, const Tensor& x, const Tensor& w, const Tensor* b, int stride, int pad_top, int pad_left, int pad_bottom,
              int pad_right);
inline Tensor conv2d(Compute& c, const Tensor& x, const Tensor& w, const Tensor* b, int stride, int pad) {
  return conv2d(c, x, w, b, stride, pad, pad, pad, pad);
}

// x [B, C, *spatial]; gamma/beta [C] (any float dtype). Optionally fused SiLU.
Tensor group_norm(Compute& c, const Tensor& x, int groups, const Tensor& gamma, const Tensor& beta, float eps, bool silu = false);
// The same in place (a group's statistics are taken before it is overwritten).
void group_norm_(Compute& c, Tensor& x, int groups, const Tensor& gamma, const Tensor& beta, float eps, bool silu = false);
// Sums of a GroupNorm input for one (batch, group), in double: statistics
// shared across the tiles of a map too large to normalise in one piece.
struct GroupSums {
  double sum = 0;     // sum of x
  double sumsq = 0;   // sum of x^2
  int64_t count = 0;  // elements
};
// Spatial rows [y0, y1) and columns [x0, x1) of a [B, C, H, W] map.
struct Region2d {
  int64_t y0, y1, x0, x1;
};
// acc[b * groups + g] (B*groups entries) += the sums of x [B, C, H, W] over `region`.
void group_sums(Compute& c, const Tensor& x, int groups, const Region2d& region, GroupSums* acc);
// group_norm with given statistics instead of x's own: stats[b * groups + g]
// (B*groups entries, count > 0) give mean = sum/count, var = sumsq/count - mean^2.
Tensor group_norm(Compute& c, const Tensor& x, int groups, const Tensor& gamma, const Tensor& beta, float eps, bool silu,
                  const GroupSums* stats);
void group_norm_(Compute& c, Tensor& x, int groups, const Tensor& gamma, const Tensor& beta, float eps, bool silu, const GroupSums* stats);
// x [..., C]; normalises over the last dim.
Tensor layer_norm(Compute& c, const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps);

// Multi-head attention. q [B, Nq, H*D], k/v [B, Nk, H*D] -> [B, Nq, H*D].
// Tiled online softmax: never materialises the [Nq, Nk] score matrix.
// causal: query i attends to keys j <= i (requires Nq == Nk).
// q, k and v by value, so a caller that moves them in hands over its memory:
// the long-sequence path drops k and v once packed, and the output is written
// into q's storage when that was q's last reference.
Tensor attention(Compute& c, Tensor q, Tensor k, Tensor v, int heads, bool causal, float scale);

// Element-wise, in place.
void silu_(Compute& c, Tensor& x);
void gelu_(Compute& c, Tensor& x);        // exact erf GELU
void quick_gelu_(Compute& c, Tensor& x);  // x * sigmoid(1.702 x)
// x [..., 2F] -> [..., F]: first half * gelu(second half) (diffusers GEGLU).
Tensor geglu(Compute& c, const Tensor& x);
// Softmax over the last dim, in place.
void softmax_(Compute& c, Tensor& x);

// a += b, b broadcast over a's leading dims when b has fewer elements
// (b's shape must equal a trailing part of a's shape), in place.
void add_(Compute& c, Tensor& a, const Tensor& b);
// a[b, c, ...] += v[b, c]: per-(batch, channel) bias, e.g. time embedding into a ResNet.
void add_channel_bias_(Compute& c, Tensor& a, const Tensor& v);
void mul_(Compute& c, Tensor& a, const Tensor& b);  // same broadcast rule as add_
void scale_(Compute& c, Tensor& a, float s);

// x [B, C, H, W] -> [B, C, 2H, 2W], nearest; or only output rows
// [row0, row1) of it: [B, C, row1 - row0, 2W].
Tensor upsample_nearest2x(Compute& c, const Tensor& x);
Tensor upsample_nearest2x_rows(Compute& c, const Tensor& x, int64_t row0, int64_t row1);
// x [B, C, H, W] -> [B, C, Ho, Wo], nearest with PyTorch's source index
// (interpolate(size=...)): i / 2 at exactly 2x, else floor(i * (float(H) / Ho))
// in float, clamped. The U-Net meets an odd skip size this way (2H - 1).
Tensor upsample_nearest(Compute& c, const Tensor& x, int64_t Ho, int64_t Wo);
// dst [B, C, H, W] rows [row0, row0 + R) = src [B, C, R, W].
void paste_rows(Compute& c, Tensor& dst, const Tensor& src, int64_t row0);
// Concatenate along `dim` (all other dims equal).
Tensor concat(Compute& c, const Tensor& a, const Tensor& b, int dim);
// [B, C, N] <-> [B, N, C] (NCHW feature maps <-> token sequences).
Tensor transpose_last2(Compute& c, const Tensor& x);

// Sinusoidal timestep embedding: t [B] -> [B, dim], computed in f32 as the
// reference does. flip_sin_to_cos: [cos, sin] order; freq_shift as diffusers.
Tensor timestep_embedding(const Tensor& t, int dim, bool flip_sin_to_cos, float freq_shift, float max_period = 10000.f);

}  // namespace ops
}  // namespace sd
