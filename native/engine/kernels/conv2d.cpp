// ops::conv2d: 1x1 stride-1 convs are one GEMM per image; 3x3 stride-1 convs
// use Winograd, F(4x4, 3x3) with enough output tiles, else F(2x2, 3x3)
// (block-quantized weights too: Winograd decodes the blocks per task);
// everything else (stride 2 and up) is an im2col GEMM over bounded chunks of
// output pixels. Block-quantized weights the integer GEMM prefers
// (quant_gemm.h) take it instead for 1x1 convs, and over im2col for
// stride-2 3x3 convs and tiny maps (integer_im2col below).
#include <algorithm>

#include "kernels/gemm.h"
#include "kernels/kernel_table.h"
#include "kernels/op_checks.h"
#include "kernels/ops.h"
#include "kernels/quant_gemm.h"
#include "kernels/quant_ops.h"
#include "kernels/scratch.h"
#include "kernels/winograd.h"
#include "tensor/thread_pool.h"

namespace sd {
namespace kern {
namespace {

// Winograd pays a per-call weight transform that only amortises over enough
// output tiles: below this many F(4x4) tiles in the batch (1280->1280 at
// 16x16 is 16 per image, 8x8 is 4) F(2x2, 3x3) is faster, measured on the
// U-Net's 4x4, 8x8 and 16x16 levels at batch 1 and 2.
constexpr int64_t kWinograd4MinTiles = 16;
constexpr int64_t kColBytes = 8ll << 20;  // im2col chunk cap

// Maps whose whole batch has at most this many output pixels run as one GEMM
// over the batch: at such sizes the GEMM is bound by converting and packing
// the weights, which a per-image loop repeats for every image (the U-Net's
// stride-2 downsampling convs on small maps, 2 images per CFG batch).
constexpr int64_t kBatchedMaxPixels = 256;

// Block-quantized weights that the integer GEMM prefers run
// 3x3 convs as one integer GEMM over the batch's im2col matrix, pixels as
// rows, where that beats decoding them for the f32 paths: stride 2 and up
// (the f32 im2col GEMM), and stride 1 on maps whose whole batch has at most
// kIntMaxWinogradPixels output pixels (F(2x2) Winograd shares its per-call
// weight transform among too few tiles there). Measured at SD 1.5's shapes,
// q4_0, 1 thread: 1280 -> 1280 on 4x4 maps 1.4-1.6x, stride-2 convs
// 1.1-1.85x; Winograd stays ahead from 8x8 at batch 2. The batch's im2col
// matrix is capped at kIntColBytes.
constexpr int64_t kIntMaxWinogradPixels = 32;
constexpr int64_t kIntColBytes = 32ll << 20;

inline int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }  // b > 0

// col[r * ldcol + p] for p in [0, pc): rows r = (ci, ky, kx) of the im2col
// matrix of one image x [Cin, H, W], output pixels p0 .. p0 + pc.
void im2col_fill(ThreadPool* pool, const float* x, int64_t Cin, int64_t H, int64_t W, int64_t kh, int64_t kw, int stride, int pt, int pl,
                 int64_t Wo, int64_t p0, int64_t pc, float* col, int64_t ldcol) {
  const int64_t rows = Cin * kh * kw;
  parallel_for(pool, rows, balanced_grain(rows, 8), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t ci = r / (kh * kw), ky = (r / kw) % kh, kx = r % kw;
      const float* xc = x + ci * H * W;
      float* dst = col + r * ldcol;
      // Output columns whose input column ix = ox*stride - pl + kx is inside [0, W).
      const int64_t ox_lo = std::min(Wo, std::max<int64_t>(0, -floor_div(kx - pl, stride)));
      const int64_t ox_hi = std::max(ox_lo, std::min(Wo, floor_div(W - 1 + pl - kx, stride) + 1));
      for (int64_t p = 0; p < pc;) {  // one output-row segment at a time
        const int64_t oy = (p0 + p) / Wo, ox0 = (p0 + p) % Wo, n = std::min(Wo - ox0, pc - p);
        const int64_t iy = oy * stride - pt + ky;
        float* d = dst + p;  // d[ox - ox0] for ox in [ox0, ox0 + n)
        if (iy < 0 || iy >= H) {
          std::fill(d, d + n, 0.f);
        } else {
          const float* row = xc + iy * W;
          for (int64_t ox = ox0; ox < ox0 + n; ++ox) d[ox - ox0] = (ox >= ox_lo && ox < ox_hi) ? row[ox * stride - pl + kx] : 0.f;
        }
        p += n;
      }
    }
  });
}

// y [Cout, Ho*Wo] for one image via chunks col [Cin*kh*kw, pc] of the input.
void conv_im2col(ThreadPool* pool, const float* x, int64_t Cin, int64_t H, int64_t W, const Tensor& w, int64_t Cout, int64_t kh, int64_t kw,
                 int stride, int pt, int pl, const float* bias, float* y, int64_t Ho, int64_t Wo) {
  const int64_t rows = Cin * kh * kw, P = Ho * Wo;
  const int64_t pc_max = std::max<int64_t>(64, std::min<int64_t>(P, kColBytes / (4 * rows)));
  float* col = scratch(kSlotOp0, size_t(rows * pc_max));
  for (int64_t p0 = 0; p0 < P; p0 += pc_max) {
    const int64_t pc = std::min(pc_max, P - p0);
    im2col_fill(pool, x, Cin, H, W, kh, kw, stride, pt, pl, Wo, p0, pc, col, pc);
    // y[:, p0:p0+pc] = w [Cout, rows] @ col [rows, pc]
    gemm(pool, Cout, pc, rows, {w.data(), w.dtype(), rows, 1}, {col, DType::F32, pc, 1}, y + p0, P, nullptr, bias);
  }
}

// Small maps, whole batch: col [rows, B*P] (image b in columns b*P ..), one
// GEMM into t [Cout, B*P], then t -> y [B, Cout, P].
void conv_im2col_batched(Compute& c, const float* x, int64_t B, int64_t Cin, int64_t H, int64_t W, const Tensor& w, int64_t Cout,
                         int64_t kh, int64_t kw, int stride, int pt, int pl, const float* bias, float* y, int64_t Ho, int64_t Wo) {
  const int64_t rows = Cin * kh * kw, P = Ho * Wo, N = B * P;
  Tensor col = new_tensor(c, {rows, N});  // [rows, B*P]
  Tensor t = new_tensor(c, {Cout, N});    // [Cout, B*P]
  for (int64_t b = 0; b < B; ++b)
    im2col_fill(c.pool, x + b * Cin * H * W, Cin, H, W, kh, kw, stride, pt, pl, Wo, 0, P, col.data_as<float>() + b * P, N);
  gemm(c.pool, Cout, N, rows, {w.data(), w.dtype(), rows, 1}, {col.data_as<float>(), DType::F32, N, 1}, t.data_as<float>(), N, nullptr,
       bias);
  const float* tp = t.data_as<float>();
  for (int64_t b = 0; b < B; ++b)
    for (int64_t co = 0; co < Cout; ++co) std::copy(tp + co * N + b * P, tp + co * N + (b + 1) * P, y + (b * Cout + co) * P);
}

bool integer_im2col(int64_t rows, int64_t k, int64_t B, int64_t P, int stride) {
  return k == 3 && (stride > 1 || B * P <= kIntMaxWinogradPixels) && rows * B * P * 4 <= kIntColBytes;
}

// xt [B*P, rows]: each image's im2col matrix transposed, pixels as
// contiguous rows for the activation quantizer; then one integer GEMM
// Y_b(p, co) = sum_r xt[b*P + p, r] w[co, r] straight into y [B, Cout, P],
// the weight unpacked once for the batch.
void conv_im2col_integer(Compute& c, const float* x, int64_t B, int64_t Cin, int64_t H, int64_t W, const Tensor& w, int64_t Cout, int64_t k,
                         int stride, int pt, int pl, const float* bias, float* y, int64_t Ho, int64_t Wo) {
  const int64_t rows = Cin * k * k, P = Ho * Wo;
  Tensor xt = new_tensor(c, {B * P, rows});
  {
    Tensor col = new_tensor(c, {rows, P});
    for (int64_t b = 0; b < B; ++b) {
      im2col_fill(c.pool, x + b * Cin * H * W, Cin, H, W, k, k, stride, pt, pl, Wo, 0, P, col.data_as<float>(), P);
      table().transpose_f32(DType::F32, col.data_as<float>(), P, rows, P, xt.data_as<float>() + b * P * rows, rows);
    }
  }
  quant_gemm(c, P, Cout, rows, xt.data_as<float>(), rows, 1, w.data(), w.dtype(), y, 1, P, bias, B, P * rows, Cout * P);
}

}  // namespace

Tensor conv2d_impl(Compute& c, const Tensor& x, const Tensor& w, const Tensor* b, int stride, int pad_top, int pad_left, int pad_bottom,
                   int pad_right) {
  const char* op = "conv2d";
  require_act(x, op, "x");
  require(x.dim() == 4, op, "x must be [B, C, H, W], got " + shape_str(x.shape()));
  require(w.dim() == 4 && w.size(2) == w.size(3) && (w.size(2) == 1 || w.size(2) == 3), op,
          "weight must be [Cout, Cin, 1|3, 1|3], got " + shape_str(w.shape()));
  if (dtype_is_quantized(w.dtype())) {
    // Winograd decodes the blocks per task, the GEMM paths inside their packing.
    require(w.is_contiguous(), op, "weight must be contiguous");
    require(w.size(1) * w.size(2) * w.size(3) % dtype_block_size(w.dtype()) == 0, op,
            std::string(dtype_name(w.dtype())) + " weight " + shape_str(w.shape()) + " rows are not whole blocks");
  } else {
    require_weight(w, op, "weight");
  }
  require(w.size(1) == x.size(1), op, "x " + shape_str(x.shape()) + " has a different channel count than weight " + shape_str(w.shape()));
  require(stride >= 1 && pad_top >= 0 && pad_left >= 0 && pad_bottom >= 0 && pad_right >= 0, op, "invalid stride/padding");
  const int64_t B = x.size(0), Cin = x.size(1), H = x.size(2), W = x.size(3);
  const int64_t Cout = w.size(0), k = w.size(2);
  const int64_t Ho = (H + pad_top + pad_bottom - k) / stride + 1, Wo = (W + pad_left + pad_right - k) / stride + 1;
  require(H + pad_top + pad_bottom >= k && W + pad_left + pad_right >= k, op,
          "input " + shape_str(x.shape()) + " is smaller than the kernel");
  std::vector<float> bias;
  if (b) bias = param_f32(*b, op, "bias", Cout);
  const float* bp = b ? bias.data() : nullptr;
  Tensor y = new_tensor(c, {B, Cout, Ho, Wo});  // [B, Cout, Ho, Wo]
  const bool pointwise = k == 1 && stride == 1 && pad_top == 0 && pad_left == 0 && pad_bottom == 0 && pad_right == 0;
  if (dtype_is_quantized(w.dtype()) && quant_gemm_preferred(w.dtype(), Cin * k * k)) {
    if (pointwise) {
      // Pixels are the GEMM rows: X_n(p, ci) = x[n, ci, p]; Y_n(p, co) -> y[n, co, p]; the weight is unpacked once for all images.
      quant_gemm(c, H * W, Cout, Cin, x.data_as<float>(), 1, H * W, w.data(), w.dtype(), y.data_as<float>(), 1, H * W, bp, B, Cin * H * W,
                 Cout * H * W);
      return y;
    }
    if (integer_im2col(Cin * k * k, k, B, Ho * Wo, stride)) {
      conv_im2col_integer(c, x.data_as<float>(), B, Cin, H, W, w, Cout, k, stride, pad_top, pad_left, bp, y.data_as<float>(), Ho, Wo);
      return y;
    }
  }
  if (k == 3 && stride == 1) {
    // All images at once: the weight transform is shared by the batch.
    if (B * ((Ho + 3) / 4) * ((Wo + 3) / 4) >= kWinograd4MinTiles)
      conv3x3_winograd(c, x.data_as<float>(), B, Cin, H, W, w.data(), w.dtype(), Cout, bp, pad_top, pad_left, y.data_as<float>(), Ho, Wo);
    else
      conv3x3_winograd_f2(c, x.data_as<float>(), B, Cin, H, W, w.data(), w.dtype(), Cout, bp, pad_top, pad_left, y.data_as<float>(), Ho,
                          Wo);
    return y;
  }
  if (B > 1 && B * Ho * Wo <= kBatchedMaxPixels) {
    conv_im2col_batched(c, x.data_as<float>(), B, Cin, H, W, w, Cout, k, k, stride, pad_top, pad_left, bp, y.data_as<float>(), Ho, Wo);
    return y;
  }
  for (int64_t n = 0; n < B; ++n) {
    const float* xb = x.data_as<float>() + n * Cin * H * W;  // [Cin, H, W]
    float* yb = y.data_as<float>() + n * Cout * Ho * Wo;     // [Cout, Ho, Wo]
    if (pointwise) {
      // y [Cout, HW] = w [Cout, Cin] @ x [Cin, HW]
      gemm(c.pool, Cout, H * W, Cin, {w.data(), w.dtype(), Cin, 1}, {xb, DType::F32, H * W, 1}, yb, H * W, nullptr, bp);
    } else {
      conv_im2col(c.pool, xb, Cin, H, W, w, Cout, k, k, stride, pad_top, pad_left, bp, yb, Ho, Wo);
    }
  }
  return y;
}

}  // namespace kern

namespace ops {

Tensor conv2d(Compute& c, const Tensor& x, const Tensor& w, const Tensor* b, int stride, int pad_top, int pad_left, int pad_bottom,
              int pad_right) {
  kern::OpTimer timer_(c, OpTimers::Conv2d);
  return kern::conv2d_impl(c, x, w, b, stride, pad_top, pad_left, pad_bottom, pad_right);
}

}  // namespace ops
}  // namespace sd
