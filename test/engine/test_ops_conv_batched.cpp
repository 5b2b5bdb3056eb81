// Small feature maps of a batch run as one im2col GEMM over all images
// (conv2d.cpp, kBatchedMaxPixels). Checks that path against a direct
// convolution and against the same images convolved one at a time.
#define SD_TEST_MAIN
#include <vector>

#include "harness.h"
#include "kernel_test_util.h"
#include "kernels/ops.h"
#include "tensor/arena.h"
#include "tensor/thread_pool.h"

using ktest::rand_tensor;
using sd::DType;
using sd::Tensor;

static int skip_ = ktest::skip_if_path_unsupported();

namespace {

// Direct convolution in double: x [B, C, H, W], w [O, C, k, k] -> [B, O, Ho, Wo].
std::vector<double> direct_conv(const Tensor& x, const Tensor& w, const Tensor& b, int s, int pad) {
  const int64_t B = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3), O = w.size(0), k = w.size(2);
  const int64_t Ho = (H + 2 * pad - k) / s + 1, Wo = (W + 2 * pad - k) / s + 1;
  const float *xp = x.data_as<float>(), *wp = w.data_as<float>(), *bp = b.data_as<float>();
  std::vector<double> y(size_t(B * O * Ho * Wo));
  for (int64_t n = 0; n < B; ++n)
    for (int64_t o = 0; o < O; ++o)
      for (int64_t oy = 0; oy < Ho; ++oy)
        for (int64_t ox = 0; ox < Wo; ++ox) {
          double acc = bp[o];
          for (int64_t ci = 0; ci < C; ++ci)
            for (int64_t ky = 0; ky < k; ++ky)
              for (int64_t kx = 0; kx < k; ++kx) {
                const int64_t iy = oy * s - pad + ky, ix = ox * s - pad + kx;
                if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                acc += double(xp[((n * C + ci) * H + iy) * W + ix]) * wp[((o * C + ci) * k + ky) * k + kx];
              }
          y[size_t(((n * O + o) * Ho + oy) * Wo + ox)] = acc;
        }
  return y;
}

}  // namespace

TEST(batched_small_map_conv_matches_direct_and_per_image_results) {
  struct Case {
    int64_t B, C, H, W, O, k;
    int s, pad;
  };
  const Case cases[] = {
      {3, 7, 4, 4, 11, 3, 1, 1},  // 3x3, fewer than 4 Winograd tiles (SD's 4x4 level)
      {2, 5, 5, 3, 9, 3, 2, 1},   // 3x3 stride 2 (downsample), odd map
      {3, 12, 4, 5, 6, 1, 1, 0},  // 1x1 (ResBlock skip)
  };
  sd::ThreadPool pool(2);
  sd::Arena arena;
  sd::Compute c;
  c.pool = &pool;
  c.arena = &arena;
  for (const Case& cs : cases)
    for (DType d : {DType::F32, DType::F16}) {
      Tensor x = rand_tensor({cs.B, cs.C, cs.H, cs.W}, 11);
      Tensor w = ktest::as_dtype(rand_tensor({cs.O, cs.C, cs.k, cs.k}, 12), d);
      Tensor b = rand_tensor({cs.O}, 13);
      Tensor y = sd::ops::conv2d(c, x, w, &b, cs.s, cs.pad);  // [B, O, Ho, Wo]
      const double e = ktest::rel_err(y, direct_conv(x, w.to_f32(), b, cs.s, cs.pad));
      CHECK_MSG(e < 1e-5, "B=%lld C=%lld %lldx%lld k=%lld s=%d %s: rel err %g", (long long)cs.B, (long long)cs.C, (long long)cs.H,
                (long long)cs.W, (long long)cs.k, cs.s, sd::dtype_name(d), e);
      // Image by image (the per-image path): the same sums in the same order.
      const int64_t per = y.numel() / cs.B;
      for (int64_t n = 0; n < cs.B; ++n) {
        Tensor one = sd::ops::conv2d(c, x.slice_rows(n, n + 1), w, &b, cs.s, cs.pad);
        const float* a = y.data_as<float>() + n * per;
        const float* r = one.data_as<float>();
        bool same = true;
        for (int64_t i = 0; i < per; ++i) same = same && a[i] == r[i];
        CHECK_MSG(same, "image %lld of case C=%lld k=%lld differs from its own convolution", (long long)n, (long long)cs.C,
                  (long long)cs.k);
      }
    }
}
