// Winograd F(2x2, 3x3) (kernels/winograd.cpp, used by conv2d for small
// maps) against a double direct convolution on odd shapes: output channels
// not a multiple of the panel width, several and uneven depth blocks, ragged
// edge tiles, tile chunks spanning two images, f32/f16/bf16 weights, any
// padding; its weight transpose kernel against the plain formula; the path
// under test against the scalar path; 1, 2 and 3 threads bit-identical.
// ctest runs this under every SD_NATIVE_CPU path.
#define SD_TEST_MAIN
#include <cmath>
#include <vector>

#include "harness.h"
#include "kernel_test_util.h"
#include "kernels/kernel_table.h"
#include "kernels/ops.h"
#include "kernels/winograd.h"
#include "tensor/cpu_features.h"
#include "tensor/thread_pool.h"

using ktest::rand_tensor;
using sd::DType;
using sd::Tensor;

static int skip_ = ktest::skip_if_path_unsupported();

namespace {

// Measured rel L2 6e-8 .. 3.3e-7 (transforms have coefficients 0, +-1/2, +-1,
// so rounding is that of a direct f32 sum of 9 * Cin products plus a few
// additions); bound with a wide margin.
constexpr double kTolF2 = 1e-5;

struct Shape {
  int64_t B, Cin, H, W, Cout;
  int pt, pl, pb, pr;
};

Tensor run_f2(sd::Compute& c, const Tensor& x, const Tensor& w, const Tensor& b, const Shape& s) {
  const int64_t Ho = s.H + s.pt + s.pb - 2, Wo = s.W + s.pl + s.pr - 2;
  Tensor y = Tensor::empty(DType::F32, {s.B, s.Cout, Ho, Wo});
  sd::kern::conv3x3_winograd_f2(c, x.data_as<float>(), s.B, s.Cin, s.H, s.W, w.data(), w.dtype(), s.Cout, b.data_as<float>(), s.pt, s.pl,
                                y.data_as<float>(), Ho, Wo);
  return y;
}

Tensor run_f2_threads(int threads, const Tensor& x, const Tensor& w, const Tensor& b, const Shape& s) {
  sd::ThreadPool pool(threads);
  sd::Compute c;
  c.pool = &pool;
  return run_f2(c, x, w, b, s);
}

const Shape kShapes[] = {
    {1, 19, 8, 8, 37, 1, 1, 1, 1},    // U-Net-like 8x8, Cout past one 32-channel block and a 16 panel
    {2, 300, 7, 9, 45, 1, 1, 1, 1},   // 3 uneven depth blocks, ragged edge tiles, 2 images
    {3, 5, 4, 4, 6, 1, 1, 1, 1},      // 4x4 maps (U-Net's lowest level at 256x256)
    {1, 4, 1, 1, 3, 1, 1, 1, 1},      // 1x1 map: only the centre tap sees data
    {1, 6, 9, 6, 7, 0, 0, 0, 0},      // no padding (valid convolution)
    {2, 3, 6, 7, 5, 1, 0, 2, 1},      // asymmetric padding
    {2, 8, 26, 21, 9, 1, 1, 1, 1},    // 2 x 143 tiles: several tile chunks, one spanning both images
    {1, 129, 3, 5, 130, 1, 1, 1, 1},  // depth 129 (one element past a 128 block), 130 output channels
};

}  // namespace

TEST(transpose_f32_matches_the_formula_for_every_dtype_and_tail) {
  const sd::kern::Table& t = sd::kern::table();
  struct Case {
    int64_t rows, cols, ld, ldd;
  };
  for (Case cs : {Case{8, 8, 8, 8}, Case{16, 72, 80, 19}, Case{13, 29, 31, 13}, Case{1, 1, 1, 1}, Case{7, 9, 9, 32},
                  Case{32, 1152, 1200, 32}, Case{6, 41, 43, 6}, Case{3, 17, 20, 6}})  // the last two: GEMM A panels, mr = 6 rows wide
    for (DType d : {DType::F32, DType::F16, DType::BF16}) {
      Tensor src32 = rand_tensor({cs.rows, cs.ld}, 70);
      Tensor src = ktest::as_dtype(src32, d), exact = src.to_f32();
      std::vector<float> dst(size_t(cs.cols * cs.ldd), -7.f);
      t.transpose_f32(d, src.data(), cs.ld, cs.rows, cs.cols, dst.data(), cs.ldd);
      bool ok = true;
      for (int64_t c = 0; c < cs.cols; ++c)
        for (int64_t r = 0; r < cs.ldd; ++r) {
          const float want = r < cs.rows ? exact.data_as<float>()[r * cs.ld + c] : -7.f;  // rows past `rows` untouched
          ok = ok && dst[size_t(c * cs.ldd + r)] == want;
        }
      CHECK_MSG(ok, "%lld x %lld (ld %lld, ldd %lld) %s", (long long)cs.rows, (long long)cs.cols, (long long)cs.ld, (long long)cs.ldd,
                sd::dtype_name(d));
    }
}

TEST(winograd_f2_matches_direct_convolution_on_odd_shapes) {
  sd::ThreadPool pool(2);
  sd::Compute c;
  c.pool = &pool;
  for (const Shape& s : kShapes)
    for (DType d : {DType::F32, DType::F16, DType::BF16}) {
      Tensor x = rand_tensor({s.B, s.Cin, s.H, s.W}, 71);
      Tensor w = ktest::as_dtype(rand_tensor({s.Cout, s.Cin, 3, 3}, 72), d), b = rand_tensor({s.Cout}, 73);
      const double e = ktest::rel_err(run_f2(c, x, w, b, s), ktest::direct_conv(x, w.to_f32(), &b, 1, s.pt, s.pl, s.pb, s.pr));
      CHECK_MSG(e < kTolF2, "B %lld Cin %lld %lldx%lld Cout %lld pad %d%d%d%d %s: rel err %g", (long long)s.B, (long long)s.Cin,
                (long long)s.H, (long long)s.W, (long long)s.Cout, s.pt, s.pl, s.pb, s.pr, sd::dtype_name(d), e);
    }
}

TEST(winograd_f2_path_agrees_with_the_scalar_path) {
  sd::Compute c;
  for (const Shape& s : kShapes) {
    Tensor x = rand_tensor({s.B, s.Cin, s.H, s.W}, 74);
    Tensor w = ktest::as_dtype(rand_tensor({s.Cout, s.Cin, 3, 3}, 75), DType::F16), b = rand_tensor({s.Cout}, 76);
    const sd::CpuPath path = sd::cpu_path();
    sd::set_cpu_path(sd::CpuPath::Scalar);
    Tensor ref = run_f2(c, x, w, b, s);
    sd::set_cpu_path(path);
    Tensor got = run_f2(c, x, w, b, s);
    const double e = sdtest::rel_l2(got.data_as<float>(), ref.data_as<float>(), size_t(ref.numel()));
    // Same transforms; only the GEMM summation order and FMA rounding differ.
    CHECK_MSG(e < 1e-5, "Cin %lld Cout %lld: rel %g", (long long)s.Cin, (long long)s.Cout, e);
  }
}

TEST(winograd_f2_is_bit_identical_for_1_2_and_3_threads) {
  for (const Shape& s : kShapes) {
    Tensor x = rand_tensor({s.B, s.Cin, s.H, s.W}, 77);
    Tensor w = ktest::as_dtype(rand_tensor({s.Cout, s.Cin, 3, 3}, 78), DType::F16), b = rand_tensor({s.Cout}, 79);
    Tensor y1 = run_f2_threads(1, x, w, b, s);
    CHECK_MSG(ktest::bit_equal(y1, run_f2_threads(2, x, w, b, s)), "Cin %lld Cout %lld: 2 threads", (long long)s.Cin, (long long)s.Cout);
    CHECK_MSG(ktest::bit_equal(y1, run_f2_threads(3, x, w, b, s)), "Cin %lld Cout %lld: 3 threads", (long long)s.Cin, (long long)s.Cout);
  }
}

TEST(conv2d_uses_a_winograd_path_with_its_bound_on_u_net_like_small_maps) {
  // 8x8 and 4x4 maps at batch 1 and 2 (F(2x2)) and 16x16 at batch 2 (F(4x4)).
  sd::ThreadPool pool(2);
  sd::Compute c;
  c.pool = &pool;
  for (int64_t B : {1, 2})
    for (int64_t HW : {4, 8, 16}) {
      const Shape s{B, 40, HW, HW, 24, 1, 1, 1, 1};
      Tensor x = rand_tensor({B, s.Cin, HW, HW}, 80);
      Tensor w = ktest::as_dtype(rand_tensor({s.Cout, s.Cin, 3, 3}, 81), DType::F16), b = rand_tensor({s.Cout}, 82);
      const double e = ktest::rel_err(sd::ops::conv2d(c, x, w, &b, 1, 1), ktest::direct_conv(x, w.to_f32(), &b, 1, s.pt, s.pl, s.pb, s.pr));
      CHECK_MSG(e < 5e-5, "B %lld %lldx%lld: rel err %g", (long long)B, (long long)HW, (long long)HW, e);
    }
}
