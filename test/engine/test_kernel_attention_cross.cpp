// Attention with up to 256 unmasked keys (cross-attention to the 77 text
// tokens, small self-attention) runs a single-block path without online
// rescaling (attention.cpp, attention_one_block). Checked against a double
// softmax reference on odd shapes (query counts off the panel width, head
// sizes 1..160, 1 key, the 256 / 257-key boundary where the tiled path takes
// over), against the scalar path, and for bit-identical results with 1, 2
// and 3 threads. Also the softmax2_cols kernel against its formula. ctest
// runs this under every SD_NATIVE_CPU path. The output written into a
// handed-over q is checked here for every path.
#define SD_TEST_MAIN
#include <cmath>
#include <utility>
#include <vector>

#include "harness.h"
#include "kernel_test_util.h"
#include "kernels/kernel_table.h"
#include "kernels/ops.h"
#include "tensor/cpu_features.h"
#include "tensor/thread_pool.h"

using ktest::rand_tensor;
using sd::Tensor;

static int skip_ = ktest::skip_if_path_unsupported();

namespace {

// f32 products and sums of D and Nk terms plus the f32 exp (rel < 1e-6).
constexpr double kTol = 1e-5;

struct Case {
  int64_t B, Nq, Nk;
  int H;
  int64_t D;
};

const Case kCases[] = {
    {1, 37, 77, 8, 40},   // SD 1.x level 0 head size, ragged query panel
    {2, 100, 77, 8, 80},  // batch 2 (CFG), SD 1.x level 1
    {1, 19, 77, 2, 160},  // SD 1.x level 2
    {1, 33, 77, 5, 64},   // SD 2.x / XL head size
    {2, 5, 1, 3, 7},      // one key: softmax weight exactly 1
    {1, 17, 256, 2, 9},   // largest single block
    {1, 17, 257, 2, 9},   // one past: the tiled online-softmax path
    {1, 1, 3, 1, 1},      // scalar everything
};

std::vector<double> reference(const Tensor& q, const Tensor& k, const Tensor& v, int H, float scale) {
  const int64_t B = q.size(0), Nq = q.size(1), HD = q.size(2), Nk = k.size(1), D = HD / H;
  const float *qp = q.data_as<float>(), *kp = k.data_as<float>(), *vp = v.data_as<float>();
  std::vector<double> y(static_cast<size_t>(B * Nq * HD)), s(static_cast<size_t>(Nk));
  for (int64_t b = 0; b < B; ++b)
    for (int h = 0; h < H; ++h)
      for (int64_t i = 0; i < Nq; ++i) {
        double m = -1e300, l = 0;
        for (int64_t j = 0; j < Nk; ++j) {
          double acc = 0;
          for (int64_t d = 0; d < D; ++d) acc += double(qp[(b * Nq + i) * HD + h * D + d]) * kp[(b * Nk + j) * HD + h * D + d];
          s[size_t(j)] = acc * scale;
          m = std::max(m, s[size_t(j)]);
        }
        for (int64_t j = 0; j < Nk; ++j) l += (s[size_t(j)] = std::exp(s[size_t(j)] - m));
        for (int64_t d = 0; d < D; ++d) {
          double acc = 0;
          for (int64_t j = 0; j < Nk; ++j) acc += s[size_t(j)] * vp[(b * Nk + j) * HD + h * D + d];
          y[size_t((b * Nq + i) * HD + h * D + d)] = acc / l;
        }
      }
  return y;
}

struct Inputs {
  Tensor q, k, v;
  float scale;
};

Inputs make(const Case& cs, uint64_t seed) {
  return {rand_tensor({cs.B, cs.Nq, cs.H * cs.D}, seed, 2.f), rand_tensor({cs.B, cs.Nk, cs.H * cs.D}, seed + 1, 2.f),
          rand_tensor({cs.B, cs.Nk, cs.H * cs.D}, seed + 2), 1.f / std::sqrt(float(cs.D))};
}

Tensor run(int threads, const Inputs& in, int H) {
  sd::ThreadPool pool(threads);
  sd::Compute c;
  c.pool = &pool;
  return sd::ops::attention(c, in.q, in.k, in.v, H, false, in.scale);
}

}  // namespace

// Two blocks of keys through softmax2_cols with carried running max / sum
// (the tiled path's use; the first call alone is the one-block path's) vs
// the same formulas in double. Block sizes 0..78 rows, including a second
// block whose scores are all below the first block's max (alpha = 1) and a
// masked (-inf) row.
TEST(softmax2_cols_matches_its_formula) {
  const sd::kern::Table& t = sd::kern::table();
  for (auto [rows1, rows2] : {std::pair<int64_t, int64_t>{1, 0}, {5, 3}, {77, 1}, {78, 77}, {1, 78}}) {
    const int64_t w = t.nr, rows = rows1 + rows2;
    Tensor p = rand_tensor({rows, w}, 90 + rows, 45.f);  // base-2 scores up to +-45: 2^x spans 27 orders of magnitude
    float* pd = p.data_as<float>();
    if (rows2 > 2) pd[(rows1 + 1) * w] = -INFINITY;                 // a masked score
    for (int64_t j = rows1; j < rows; ++j) pd[j * w + 1] -= 100.f;  // column 1's second block below its first one's max
    std::vector<float> orig(pd, pd + rows * w);
    const size_t n = static_cast<size_t>(w);
    std::vector<float> m(n, -INFINITY), l(n, 0.f), alpha(n), alpha1(n);
    t.softmax2_cols(pd, rows1, w, m.data(), l.data(), alpha1.data());
    std::vector<float> m1 = m, first(pd, pd + rows1 * w);
    t.softmax2_cols(pd + rows1 * w, rows2, w, m.data(), l.data(), alpha.data());
    double worst = 0;
    for (int64_t i = 0; i < w; ++i) {
      double ma = -1e300, mb = -1e300, l_ref = 0;
      for (int64_t j = 0; j < rows1; ++j) ma = std::max(ma, double(orig[size_t(j * w + i)]));
      for (int64_t j = 0; j < rows; ++j) mb = std::max(mb, double(orig[size_t(j * w + i)]));
      for (int64_t j = 0; j < rows; ++j) {
        const double e = std::exp2(orig[size_t(j * w + i)] - (j < rows1 ? ma : mb));  // each block against its running max
        const float got = j < rows1 ? first[size_t(j * w + i)] : pd[j * w + i];
        worst = std::max(worst, std::abs(got - e));  // e <= 1: absolute ~ relative
        l_ref += std::exp2(orig[size_t(j * w + i)] - mb);
      }
      worst = std::max(worst, std::abs(l[size_t(i)] - l_ref) / l_ref);
      worst = std::max(worst, std::abs(m1[size_t(i)] - ma) + std::abs(m[size_t(i)] - mb));
      worst = std::max(worst, double(alpha1[size_t(i)]));  // from an empty start: 2^-inf (at most 2^-126)
      if (rows2 > 0) worst = std::max(worst, std::abs(alpha[size_t(i)] - std::exp2(ma - mb)));
    }
    CHECK_MSG(worst < 2e-6, "rows %lld + %lld: worst error %g", (long long)rows1, (long long)rows2, worst);
  }
}

TEST(short_key_attention_matches_double_softmax_reference) {
  for (const Case& cs : kCases) {
    const Inputs in = make(cs, 91);
    const double e = ktest::rel_err(run(2, in, cs.H), reference(in.q, in.k, in.v, cs.H, in.scale));
    CHECK_MSG(e < kTol, "B %lld Nq %lld Nk %lld H %d D %lld: rel err %g", (long long)cs.B, (long long)cs.Nq, (long long)cs.Nk, cs.H,
              (long long)cs.D, e);
  }
}

TEST(short_key_attention_path_agrees_with_the_scalar_path) {
  for (const Case& cs : kCases) {
    const Inputs in = make(cs, 92);
    const sd::CpuPath path = sd::cpu_path();
    sd::set_cpu_path(sd::CpuPath::Scalar);
    Tensor ref = run(1, in, cs.H);
    sd::set_cpu_path(path);
    Tensor got = run(1, in, cs.H);
    const double e = sdtest::rel_l2(got.data_as<float>(), ref.data_as<float>(), size_t(ref.numel()));
    CHECK_MSG(e < kTol, "Nq %lld Nk %lld D %lld: rel %g", (long long)cs.Nq, (long long)cs.Nk, (long long)cs.D, e);
  }
}

TEST(short_key_attention_is_bit_identical_for_1_2_and_3_threads) {
  for (const Case& cs : kCases) {
    const Inputs in = make(cs, 93);
    Tensor y1 = run(1, in, cs.H);
    CHECK_MSG(ktest::bit_equal(y1, run(2, in, cs.H)), "Nq %lld Nk %lld D %lld: 2 threads", (long long)cs.Nq, (long long)cs.Nk,
              (long long)cs.D);
    CHECK_MSG(ktest::bit_equal(y1, run(3, in, cs.H)), "Nq %lld Nk %lld D %lld: 3 threads", (long long)cs.Nq, (long long)cs.Nk,
              (long long)cs.D);
  }
}

// A q handed over with its last reference (std::move) becomes the output's
// storage; the result is bit for bit the one with a separate output, on both
// the single-block and the tiled path, with and without the causal mask and,
// where the CPU path has the bf16 kernels, in precision "fast". A q the
// caller still holds is left untouched.
TEST(attention_writes_into_a_handed_over_q_with_the_same_result) {
  struct Variant {
    Case cs;
    bool causal, bf16;
  };
  const Variant variants[] = {{{2, 100, 77, 8, 40}, false, false},
                              {{1, 33, 300, 3, 24}, false, false},
                              {{2, 70, 70, 2, 17}, true, false},
                              {{1, 40, 300, 2, 40}, false, true}};
  sd::ThreadPool pool(2);
  for (const Variant& var : variants) {
    sd::Compute c;
    c.pool = &pool;
    c.bf16 = var.bf16;
    const Case& cs = var.cs;
    Inputs in = make(cs, 94);
    if (var.causal) in.k = in.q.to_f32(), in.v = in.q.to_f32();  // self-attention: Nq == Nk
    const Tensor q_before = in.q.to_f32();
    const Tensor separate = sd::ops::attention(c, in.q, in.k, in.v, cs.H, var.causal, in.scale);
    CHECK_MSG(separate.data() != in.q.data() && ktest::bit_equal(in.q, q_before), "Nk %lld: a shared q was written to", (long long)cs.Nk);
    Tensor q = in.q.to_f32();
    const void* q_storage = q.data();
    const Tensor y = sd::ops::attention(c, std::move(q), in.k.to_f32(), in.v.to_f32(), cs.H, var.causal, in.scale);
    CHECK_MSG(y.data() == q_storage, "Nk %lld causal %d: output not in q's storage", (long long)cs.Nk, int(var.causal));
    CHECK_MSG(ktest::bit_equal(y, separate), "Nk %lld causal %d bf16 %d: in-place result differs", (long long)cs.Nk, int(var.causal),
              int(var.bf16));
  }
}
