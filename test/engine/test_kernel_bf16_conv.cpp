// Winograd 3x3 convolutions under precision "fast" (Compute::bf16,
// kernels/winograd.cpp): where the current path has the vdpbf16ps kernel
// (avx512 with AVX-512 BF16, incl. the SIMDe-emulated test build), F(2x2)'s
// transformed-domain products take bf16 operands, checked against a double
// direct convolution on odd shapes (channel and depth tails, odd depth
// blocks, ragged tiles, two images), 1 and 2 threads; F(4x4) stays f32 (its
// transforms amplify bf16 rounding ~6x). Elsewhere the flag changes nothing.
// ctest runs it under every SD_NATIVE_CPU path.
#define SD_TEST_MAIN
#include <cmath>
#include <vector>

#include "harness.h"
#include "kernel_test_util.h"
#include "kernels/gemm_bf16.h"
#include "kernels/ops.h"
#include "kernels/winograd.h"
#include "tensor/cpu_features.h"
#include "tensor/thread_pool.h"

using ktest::rand_tensor;
using sd::DType;
using sd::Tensor;

static int skip_ = ktest::skip_if_path_unsupported();

namespace {

struct Shape {
  int64_t B, Cin, H, W, Cout;
};

Tensor conv(bool f4, bool bf16, int threads, const Tensor& x, const Tensor& w, const Tensor& b, const Shape& s) {
  sd::ThreadPool pool(threads);
  sd::Compute c;
  c.pool = &pool;
  c.bf16 = bf16;
  Tensor y = Tensor::empty(DType::F32, {s.B, s.Cout, s.H, s.W});
  (f4 ? sd::kern::conv3x3_winograd : sd::kern::conv3x3_winograd_f2)(c, x.data_as<float>(), s.B, s.Cin, s.H, s.W, w.data(), w.dtype(),
                                                                    s.Cout, b.data_as<float>(), 1, 1, y.data_as<float>(), s.H, s.W);
  return y;
}

// Odd depth (a half pair) and output channels past a 32-channel block;
// depth 300 in uneven depth blocks; 129 (one past F(2x2)'s 128-channel
// block); ragged edge tiles and two images.
const Shape kShapes[] = {
    {1, 19, 8, 8, 37},
    {2, 300, 7, 9, 45},
    {1, 129, 12, 5, 33},
    {2, 8, 26, 21, 9},
};

// F(2x2) rel L2 error against the exact convolution. bf16 keeps 8
// significant bits: each transformed operand is off by <= 2^-8 relative (rms
// ~2^-8 / sqrt(3) = 2.3e-3), each point product by the sum of two such
// errors (rms 3.2e-3), and the output transform (coefficients 0, +-1) sums
// 9 of the 16 independent point errors per output against a sum of the same
// size. Measured (emulated AVX-512): 3.7e-3 .. 4.1e-3; 8e-3 leaves 2x. The
// f32 path is at ~3e-7, a mis-paired channel at O(1).
constexpr double kTolF2 = 8e-3;

}  // namespace

TEST(bf16_winograd_f2_is_within_its_bound_and_f4_unchanged) {
  for (const Shape& s : kShapes)
    for (bool f4 : {true, false})
      for (DType d : {DType::F32, DType::F16}) {
        const Tensor x = rand_tensor({s.B, s.Cin, s.H, s.W}, 31);
        const Tensor w = ktest::as_dtype(rand_tensor({s.Cout, s.Cin, 3, 3}, 32), d), b = rand_tensor({s.Cout}, 33);
        const std::vector<double> ref = ktest::direct_conv(x, w.to_f32(), &b, 1, 1, 1, 1, 1);
        const double e32 = ktest::rel_err(conv(f4, false, 2, x, w, b, s), ref);
        const double e16 = ktest::rel_err(conv(f4, true, 2, x, w, b, s), ref);
        std::printf("  %s Cin %lld %lldx%lld Cout %lld %s: rel err fp32 %.3g, fast %.3g\n", f4 ? "F(4x4)" : "F(2x2)", (long long)s.Cin,
                    (long long)s.H, (long long)s.W, (long long)s.Cout, sd::dtype_name(d), e32, e16);
        if (f4 || !sd::kern::gemm_bf16_available()) {
          CHECK(e16 == e32);  // F(4x4) and paths without the kernel: the flag changes nothing
          continue;
        }
        CHECK_MSG(e16 < kTolF2, "rel err %.3g", e16);
        CHECK_MSG(e16 > 10 * e32, "rel err %.3g vs fp32 %.3g: bf16 did not run", e16, e32);
      }
}

TEST(bf16_winograd_f2_is_bit_identical_for_1_and_2_threads) {
  const Shape& s = kShapes[1];
  const Tensor x = rand_tensor({s.B, s.Cin, s.H, s.W}, 41);
  const Tensor w = rand_tensor({s.Cout, s.Cin, 3, 3}, 42), b = rand_tensor({s.Cout}, 43);
  CHECK(ktest::bit_equal(conv(false, true, 1, x, w, b, s), conv(false, true, 2, x, w, b, s)));
}
