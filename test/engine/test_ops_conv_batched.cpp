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
      const double e = ktest::rel_err(y, ktest::direct_conv(x, w.to_f32(), &b, cs.s, cs.pad, cs.pad, cs.pad, cs.pad));
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
