// The SIMD paths against the scalar reference path, in one process: the
// internal GEMM on odd shapes (M/N/K tails, several depth and column blocks,
// strided and f16/bf16 operands, accumulate and both biases), Winograd and
// im2col convolutions, attention and the vector exp. ctest runs this under
// every SD_NATIVE_CPU path; the path under test is the one selected.
#define SD_TEST_MAIN
#include <cmath>
#include <vector>

#include "harness.h"
#include "kernel_test_util.h"
#include "kernels/gemm.h"
#include "kernels/kernel_table.h"
#include "kernels/ops.h"
#include "tensor/cpu_features.h"
#include "tensor/thread_pool.h"

using ktest::rand_tensor;
using sd::DType;
using sd::Tensor;

static int skip_ = ktest::skip_if_path_unsupported();

namespace {

// Runs f on the scalar path, then on the path under test.
template <typename F>
std::pair<Tensor, Tensor> scalar_and_current(F f) {
  const sd::CpuPath path = sd::cpu_path();
  sd::set_cpu_path(sd::CpuPath::Scalar);
  Tensor ref = f();
  sd::set_cpu_path(path);
  return {ref, f()};
}

double rel(const Tensor& a, const Tensor& ref) { return sdtest::rel_l2(a.data_as<float>(), ref.data_as<float>(), size_t(ref.numel())); }

}  // namespace

TEST(gemm_paths_agree_on_odd_shapes_dtypes_and_strides) {
  struct Case {
    int64_t M, N, K;
  };
  // Tails of every register tile (6/14 rows, 8/16/32 columns), depth blocks
  // of 256 (K = 257, 600) and column blocks of 2048 (N = 2100).
  const Case cases[] = {{1, 1, 1}, {5, 7, 3}, {13, 31, 17}, {29, 33, 257}, {97, 130, 600}, {15, 2100, 40}};
  for (const Case& cs : cases)
    for (DType da : {DType::F32, DType::F16})
      for (DType db : {DType::F32, DType::F16, DType::BF16})
        for (int layout = 0; layout < 2; ++layout) {
          Tensor a = ktest::as_dtype(rand_tensor({cs.M, cs.K}, 1), da);
          // layout 0: B stored [N, K] (Linear weights); 1: B stored [K, N].
          Tensor b = ktest::as_dtype(rand_tensor(layout ? sd::Shape{cs.K, cs.N} : sd::Shape{cs.N, cs.K}, 2), db);
          Tensor bias_n = rand_tensor({cs.N}, 3), bias_m = rand_tensor({cs.M}, 4);
          auto run = [&] {
            Tensor c = rand_tensor({cs.M, cs.N}, 5);  // accumulate onto known values
            sd::kern::MatView B = layout ? sd::kern::MatView{b.data(), db, cs.N, 1} : sd::kern::MatView{b.data(), db, 1, cs.K};
            sd::kern::gemm(nullptr, cs.M, cs.N, cs.K, {a.data(), da, cs.K, 1}, B, c.data_as<float>(), cs.N, bias_n.data_as<float>(),
                           bias_m.data_as<float>(), true);
            return c;
          };
          auto r = scalar_and_current(run);
          double e = rel(r.second, r.first);
          // Same products, different summation order (register tiles, FMA).
          CHECK_MSG(e < 1e-6, "M=%lld N=%lld K=%lld a=%s b=%s layout=%d: rel %g", (long long)cs.M, (long long)cs.N, (long long)cs.K,
                    sd::dtype_name(da), sd::dtype_name(db), layout, e);
        }
}

TEST(gemm_packed_short_row_tails_match_the_full_micro_kernel_bitwise) {
  // gemm_packed runs a last row tile of <= mr_short rows through the short
  // micro-kernel (Winograd, attention); gemm() always uses the full one. With
  // one depth block both sum every element in the same order, so the results
  // must be identical; both are also checked against a double product (the
  // GEMM bound, 1e-5: single cancelling dot products of 77 terms reach 2e-6).
  const int mr = sd::kern::gemm_mr(), nr = sd::kern::gemm_nr();
  for (int64_t M = 1; M <= 2 * mr + 3; ++M)
    for (int64_t N : {int64_t(1), int64_t(nr), int64_t(nr + 3)})
      for (int64_t K : {1, 40, 77}) {
        Tensor a = rand_tensor({M, K}, 20), b = rand_tensor({K, N}, 21);
        std::vector<float> pa(size_t((M + mr - 1) / mr * mr * K)), pb(size_t((N + nr - 1) / nr * nr * K));
        sd::kern::pack_a({a.data(), DType::F32, K, 1}, 0, M, 0, K, pa.data());
        sd::kern::pack_b({b.data(), DType::F32, N, 1}, 0, N, 0, K, pb.data());
        Tensor c = Tensor::empty(DType::F32, {M, N}), full = Tensor::empty(DType::F32, {M, N});
        sd::kern::gemm_packed(M, N, K, pa.data(), pb.data(), c.data_as<float>(), N, false);
        sd::kern::gemm(nullptr, M, N, K, {a.data(), DType::F32, K, 1}, {b.data(), DType::F32, N, 1}, full.data_as<float>(), N);
        std::vector<double> ref(size_t(M * N));
        for (int64_t i = 0; i < M; ++i)
          for (int64_t j = 0; j < N; ++j)
            for (int64_t k = 0; k < K; ++k) ref[size_t(i * N + j)] += double(a.data_as<float>()[i * K + k]) * b.data_as<float>()[k * N + j];
        CHECK_MSG(ktest::bit_equal(c, full), "M=%lld N=%lld K=%lld: differs from the full micro-kernel", (long long)M, (long long)N,
                  (long long)K);
        CHECK_MSG(ktest::rel_err(c, ref) < 1e-5, "M=%lld N=%lld K=%lld: rel %g", (long long)M, (long long)N, (long long)K,
                  ktest::rel_err(c, ref));
      }
}

TEST(gemm_is_bit_identical_for_1_2_and_3_threads) {
  Tensor a = rand_tensor({301, 77}, 6), b = ktest::as_dtype(rand_tensor({2200, 77}, 7), DType::BF16);
  auto run = [&](int threads) {
    sd::ThreadPool pool(threads);
    Tensor c = Tensor::empty(DType::F32, {301, 2200});
    sd::kern::gemm(&pool, 301, 2200, 77, {a.data(), DType::F32, 77, 1}, {b.data(), DType::BF16, 1, 77}, c.data_as<float>(), 2200);
    return c;
  };
  Tensor one = run(1);
  CHECK(ktest::bit_equal(one, run(2)));
  CHECK(ktest::bit_equal(one, run(3)));
}

TEST(conv_paths_agree_for_winograd_and_im2col) {
  Tensor x = rand_tensor({2, 19, 23, 21}, 8);
  for (DType d : {DType::F32, DType::F16}) {
    Tensor w = ktest::as_dtype(rand_tensor({17, 19, 3, 3}, 9), d), b = rand_tensor({17}, 10);
    for (int stride : {1, 2}) {
      sd::Compute c;
      auto r = scalar_and_current([&] { return sd::ops::conv2d(c, x, w, &b, stride, 1); });
      double e = rel(r.second, r.first);
      // Winograd: both paths run the same transforms; only summation order
      // and FMA rounding differ.
      CHECK_MSG(e < 1e-5, "stride %d %s: rel %g", stride, sd::dtype_name(d), e);
    }
  }
}

TEST(attention_paths_agree) {
  Tensor q = rand_tensor({2, 133, 3 * 24}, 11, 2.f), k = rand_tensor({2, 300, 3 * 24}, 12, 2.f), v = rand_tensor({2, 300, 3 * 24}, 13);
  sd::Compute c;
  auto r = scalar_and_current([&] { return sd::ops::attention(c, q, k, v, 3, false, 0.2f); });
  CHECK(rel(r.second, r.first) < 1e-5);
  Tensor qc = rand_tensor({1, 77, 2 * 33}, 14, 2.f);
  auto rc = scalar_and_current([&] { return sd::ops::attention(c, qc, qc, qc, 2, true, 0.17f); });
  CHECK(rel(rc.second, rc.first) < 1e-5);
}

TEST(vector_exp_is_accurate_and_masks_underflow) {
  const sd::kern::Table& t = sd::kern::table();
  std::vector<float> x(203);
  for (size_t i = 0; i < x.size(); ++i) x[i] = -90.f + 0.45f * float(i);  // spans underflow .. e^0
  std::vector<float> y = x;
  const float sum = t.exp_shift_sum(y.data(), int64_t(y.size()), 1.f);
  double worst = 0, ref_sum = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double ref = std::exp(double(x[i] - 1.f));  // the shift is done in f32
    ref_sum += ref;
    if (ref > 1e-37)
      worst = std::max(worst, std::abs(y[i] - ref) / ref);
    else
      CHECK(y[i] >= 0.f && y[i] < 1e-36f);
  }
  CHECK_MSG(worst < 1e-6, "%s exp rel err %g", t.name, worst);
  CHECK(std::abs(sum - ref_sum) / ref_sum < 1e-6);
  float inf_row[3] = {-INFINITY, 0.f, -INFINITY};
  t.exp_shift_sum(inf_row, 3, 0.f);
  CHECK(inf_row[0] == 0.f && inf_row[1] == 1.f && inf_row[2] == 0.f);
}
