// Every op in kernels/ops.h against a naive double-precision formula written
// here, on small random shapes with odd sizes and tails, under the CPU path
// SD_NATIVE_CPU selects (ctest runs this once per path). Also: results are
// bit-identical for 1 and 2 threads, and bad shapes raise typed errors.
#define SD_TEST_MAIN
#include <cstring>

#include "core/error.h"
#include "harness.h"
#include "kernel_test_util.h"
#include "kernels/ops.h"
#include "tensor/thread_pool.h"

using ktest::rand_tensor;
using sd::DType;
using sd::Tensor;

static int skip_ = ktest::skip_if_path_unsupported();

namespace {

// Tolerances (relative L2 vs the double reference):
// fp32 GEMM-based ops accumulate K products in f32: error ~ sqrt(K) * 2^-24.
constexpr double kTolF32 = 1e-5;
// Winograd F(4x4,3x3): the transforms scale values by up to ~10 (A^T has
// entries 8) and cancel, measured ~1e-6..3e-6 on these inputs; bound 5e-5.
constexpr double kTolWinograd = 5e-5;
// Transcendental activations (exp/erf in f32).
constexpr double kTolAct = 1e-6;

std::vector<double> ref_linear(const Tensor& x, const Tensor& w32, const Tensor* b) {
  const int64_t N = w32.size(0), K = w32.size(1), M = x.numel() / K;
  std::vector<double> y(size_t(M * N));
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      double s = b ? b->data_as<float>()[n] : 0.0;
      for (int64_t k = 0; k < K; ++k) s += double(x.data_as<float>()[m * K + k]) * w32.data_as<float>()[n * K + k];
      y[size_t(m * N + n)] = s;
    }
  return y;
}

std::vector<double> ref_attention(const Tensor& q, const Tensor& k, const Tensor& v, int H, bool causal, float scale) {
  const int64_t B = q.size(0), Nq = q.size(1), HD = q.size(2), Nk = k.size(1), D = HD / H;
  std::vector<double> y(size_t(B * Nq * HD));
  const float *qp = q.data_as<float>(), *kp = k.data_as<float>(), *vp = v.data_as<float>();
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t i = 0; i < Nq; ++i) {
        std::vector<double> s(static_cast<size_t>(Nk));
        double mx = -1e300;
        const int64_t nk = causal ? i + 1 : Nk;
        for (int64_t j = 0; j < nk; ++j) {
          double d = 0;
          for (int64_t e = 0; e < D; ++e) d += double(qp[(b * Nq + i) * HD + h * D + e]) * kp[(b * Nk + j) * HD + h * D + e];
          s[size_t(j)] = d * scale;
          mx = std::max(mx, s[size_t(j)]);
        }
        double sum = 0;
        for (int64_t j = 0; j < nk; ++j) sum += (s[size_t(j)] = std::exp(s[size_t(j)] - mx));
        for (int64_t e = 0; e < D; ++e) {
          double o = 0;
          for (int64_t j = 0; j < nk; ++j) o += s[size_t(j)] * vp[(b * Nk + j) * HD + h * D + e];
          y[size_t((b * Nq + i) * HD + h * D + e)] = o / sum;
        }
      }
  return y;
}

std::vector<double> ref_group_norm(const Tensor& x, int G, const Tensor& g, const Tensor& be, float eps, bool silu) {
  const int64_t B = x.size(0), C = x.size(1), S = x.numel() / (B * C), cg = C / G;
  std::vector<double> y(size_t(x.numel()));
  const float* xp = x.data_as<float>();
  for (int64_t b = 0; b < B; ++b)
    for (int64_t gi = 0; gi < G; ++gi) {
      const int64_t off = (b * C + gi * cg) * S, n = cg * S;
      double m = 0, v = 0;
      for (int64_t i = 0; i < n; ++i) m += xp[off + i];
      m /= double(n);
      for (int64_t i = 0; i < n; ++i) v += (xp[off + i] - m) * (xp[off + i] - m);
      v /= double(n);
      for (int64_t i = 0; i < n; ++i) {
        int64_t ch = gi * cg + i / S;
        double t = (xp[off + i] - m) / std::sqrt(v + eps) * g.data_as<float>()[ch] + be.data_as<float>()[ch];
        y[size_t(off + i)] = silu ? t / (1 + std::exp(-t)) : t;
      }
    }
  return y;
}

Tensor run_threads(int threads, const std::function<Tensor(sd::Compute&)>& f) {
  sd::ThreadPool pool(threads);
  sd::Compute c;
  c.pool = &pool;
  return f(c);
}

}  // namespace

TEST(linear_matches_double_reference_for_f32_f16_bf16_weights) {
  struct Case {
    int64_t M, K, N;
  };
  for (Case cs : {Case{1, 1, 1}, Case{7, 5, 9}, Case{13, 33, 17}, Case{100, 300, 130}, Case{3, 513, 40}}) {
    for (DType d : {DType::F32, DType::F16, DType::BF16}) {
      Tensor x = rand_tensor({1, cs.M, cs.K}, 1);
      Tensor w = ktest::as_dtype(rand_tensor({cs.N, cs.K}, 2), d);
      Tensor b = rand_tensor({cs.N}, 3);
      sd::Compute c;
      Tensor y = sd::ops::linear(c, x, w, &b);
      CHECK(y.shape() == (sd::Shape{1, cs.M, cs.N}));
      Tensor w32 = w.to_f32();  // the reference uses the exact stored weights
      double e = ktest::rel_err(y, ref_linear(x, w32, &b));
      CHECK_MSG(e < kTolF32, "M=%lld K=%lld N=%lld %s: rel err %g", (long long)cs.M, (long long)cs.K, (long long)cs.N, sd::dtype_name(d),
                e);
    }
  }
}

TEST(conv2d_matches_direct_convolution_on_every_path) {
  struct Case {
    int64_t B, C, H, W, O, k;
    int s, pt, pl, pb, pr;
    double tol;
  };
  const Case cases[] = {
      {2, 5, 7, 9, 6, 1, 1, 0, 0, 0, 0, kTolF32},          // 1x1 GEMM
      {1, 3, 6, 5, 4, 3, 1, 1, 1, 1, 1, kTolF32},          // 3x3 small map: im2col
      {2, 7, 17, 19, 9, 3, 1, 1, 1, 1, 1, kTolWinograd},   // Winograd, ragged tiles
      {1, 16, 32, 32, 8, 3, 1, 1, 1, 1, 1, kTolWinograd},  // Winograd, whole tiles
      {1, 6, 11, 13, 5, 3, 2, 1, 1, 1, 1, kTolF32},        // stride 2
      {1, 4, 10, 12, 3, 3, 2, 0, 0, 1, 1, kTolF32},        // VAE-encoder asymmetric pad
      {1, 5, 9, 9, 4, 1, 2, 0, 0, 0, 0, kTolF32},          // 1x1 stride 2
      {1, 3, 10, 11, 4, 3, 3, 1, 2, 1, 0, kTolF32},        // stride 3, uneven padding
      {1, 2, 1, 1, 3, 3, 3, 1, 1, 1, 1, kTolF32},          // 1x1 input, all but the centre tap padded
  };
  for (const Case& cs : cases) {
    for (DType d : {DType::F32, DType::F16, DType::BF16}) {
      Tensor x = rand_tensor({cs.B, cs.C, cs.H, cs.W}, 4);
      Tensor w = ktest::as_dtype(rand_tensor({cs.O, cs.C, cs.k, cs.k}, 5), d);
      Tensor b = rand_tensor({cs.O}, 6);
      sd::Compute c;
      Tensor y = sd::ops::conv2d(c, x, w, &b, cs.s, cs.pt, cs.pl, cs.pb, cs.pr);
      double e = ktest::rel_err(y, ktest::direct_conv(x, w.to_f32(), &b, cs.s, cs.pt, cs.pl, cs.pb, cs.pr));
      CHECK_MSG(e < cs.tol, "conv C=%lld H=%lld W=%lld k=%lld s=%d %s: rel err %g", (long long)cs.C, (long long)cs.H, (long long)cs.W,
                (long long)cs.k, cs.s, sd::dtype_name(d), e);
    }
  }
}

TEST(winograd_conv_with_several_tile_chunks_matches_sampled_direct_convolution) {
  // 2 images x 40x63 tiles x 64 channels exceed the 32 MiB per-chunk buffer
  // cap, so tiles are processed in chunks, one of them spanning both images.
  const int64_t B = 2, C = 64, O = 48, H = 160, W = 250;
  Tensor x = rand_tensor({B, C, H, W}, 50), w = ktest::as_dtype(rand_tensor({O, C, 3, 3}, 51), DType::F16);
  Tensor b = rand_tensor({O}, 52);
  sd::Compute c;
  Tensor y = sd::ops::conv2d(c, x, w, &b, 1, 1);
  Tensor w32 = w.to_f32();
  ktest::Rng r(53);
  double num = 0, den = 0;
  for (int s = 0; s < 400; ++s) {
    auto pick = [&](int64_t n) { return std::min<int64_t>(n - 1, int64_t((r.uniform() + 1.f) * 0.5f * float(n))); };
    // Half the samples on the bottom/right edges (ragged last tiles).
    const int64_t n = pick(B), o = pick(O), oy = s % 4 == 0 ? H - 1 : pick(H), ox = s % 4 == 1 ? W - 1 : pick(W);
    double acc = b.data_as<float>()[o];
    for (int64_t ci = 0; ci < C; ++ci)
      for (int ky = 0; ky < 3; ++ky)
        for (int kx = 0; kx < 3; ++kx) {
          const int64_t iy = oy - 1 + ky, ix = ox - 1 + kx;
          if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
          acc += double(x.data_as<float>()[((n * C + ci) * H + iy) * W + ix]) * w32.data_as<float>()[((o * C + ci) * 3 + ky) * 3 + kx];
        }
    const double d = y.data_as<float>()[((n * O + o) * H + oy) * W + ox] - acc;
    num += d * d;
    den += acc * acc;
  }
  CHECK_MSG(std::sqrt(num / den) < kTolWinograd, "rel err %g", std::sqrt(num / den));
}

TEST(attention_matches_softmax_reference_with_and_without_causal_mask) {
  struct Case {
    int64_t B, Nq, Nk;
    int H;
    int64_t D;
    bool causal;
  };
  for (Case cs : {Case{1, 1, 1, 1, 1, false}, Case{2, 5, 77, 3, 7, false}, Case{1, 70, 300, 2, 40, false}, Case{1, 130, 130, 2, 9, true},
                  Case{2, 300, 300, 1, 16, true}}) {
    Tensor q = rand_tensor({cs.B, cs.Nq, cs.H * cs.D}, 7, 2.f);
    Tensor k = rand_tensor({cs.B, cs.Nk, cs.H * cs.D}, 8, 2.f);
    Tensor v = rand_tensor({cs.B, cs.Nk, cs.H * cs.D}, 9);
    const float scale = 1.f / std::sqrt(float(cs.D));
    sd::Compute c;
    Tensor y = sd::ops::attention(c, q, k, v, cs.H, cs.causal, scale);
    double e = ktest::rel_err(y, ref_attention(q, k, v, cs.H, cs.causal, scale));
    CHECK_MSG(e < kTolF32, "attention Nq=%lld Nk=%lld D=%lld causal=%d: rel err %g", (long long)cs.Nq, (long long)cs.Nk, (long long)cs.D,
              int(cs.causal), e);
  }
}

TEST(group_norm_and_layer_norm_match_reference) {
  for (bool silu : {false, true}) {
    Tensor x = rand_tensor({2, 12, 5, 7}, 10, 3.f);
    Tensor g = rand_tensor({12}, 11), be = rand_tensor({12}, 12);
    sd::Compute c;
    Tensor y = sd::ops::group_norm(c, x, 4, ktest::as_dtype(g, DType::F32), be, 1e-5f, silu);
    CHECK_MSG(ktest::rel_err(y, ref_group_norm(x, 4, g, be, 1e-5f, silu)) < kTolF32, "group_norm silu=%d", int(silu));
  }
  Tensor x = rand_tensor({3, 5, 33}, 13, 2.f);
  Tensor g = rand_tensor({33}, 14), be = rand_tensor({33}, 15);
  sd::Compute c;
  Tensor y = sd::ops::layer_norm(c, x, g, be, 1e-5f);
  std::vector<double> ref(size_t(x.numel()));
  const float* xp = x.data_as<float>();
  for (int64_t r = 0; r < 15; ++r) {
    double m = 0, v = 0;
    for (int j = 0; j < 33; ++j) m += xp[r * 33 + j];
    m /= 33;
    for (int j = 0; j < 33; ++j) v += (xp[r * 33 + j] - m) * (xp[r * 33 + j] - m);
    v /= 33;
    for (int j = 0; j < 33; ++j)
      ref[size_t(r * 33 + j)] = (xp[r * 33 + j] - m) / std::sqrt(v + 1e-5) * g.data_as<float>()[j] + be.data_as<float>()[j];
  }
  CHECK(ktest::rel_err(y, ref) < kTolF32);
}

TEST(activations_softmax_and_geglu_match_formulas) {
  sd::Compute c;
  Tensor x = rand_tensor({3, 37}, 16, 6.f);
  auto check_map = [&](void (*op)(sd::Compute&, Tensor&), double (*f)(double), const char* name) {
    Tensor y = rand_tensor({3, 37}, 16, 6.f);
    op(c, y);
    std::vector<double> ref(size_t(x.numel()));
    for (int64_t i = 0; i < x.numel(); ++i) ref[size_t(i)] = f(x.data_as<float>()[i]);
    CHECK_MSG(ktest::rel_err(y, ref) < kTolAct, "%s", name);
  };
  check_map(
      sd::ops::silu_, [](double v) { return v / (1 + std::exp(-v)); }, "silu");
  check_map(
      sd::ops::gelu_, [](double v) { return 0.5 * v * (1 + std::erf(v / std::sqrt(2.0))); }, "gelu");
  check_map(
      sd::ops::quick_gelu_, [](double v) { return v / (1 + std::exp(-1.702 * v)); }, "quick_gelu");

  Tensor s = rand_tensor({4, 19}, 17, 5.f);
  Tensor s0 = rand_tensor({4, 19}, 17, 5.f);
  sd::ops::softmax_(c, s);
  std::vector<double> ref(76);
  for (int r = 0; r < 4; ++r) {
    double mx = -1e300, sum = 0;
    for (int j = 0; j < 19; ++j) mx = std::max(mx, double(s0.data_as<float>()[r * 19 + j]));
    for (int j = 0; j < 19; ++j) sum += std::exp(s0.data_as<float>()[r * 19 + j] - mx);
    for (int j = 0; j < 19; ++j) ref[size_t(r * 19 + j)] = std::exp(s0.data_as<float>()[r * 19 + j] - mx) / sum;
  }
  CHECK(ktest::rel_err(s, ref) < kTolAct);

  Tensor gx = rand_tensor({2, 3, 22}, 18, 3.f);
  Tensor gy = sd::ops::geglu(c, gx);
  CHECK(gy.shape() == (sd::Shape{2, 3, 11}));
  std::vector<double> gref(66);
  for (int r = 0; r < 6; ++r)
    for (int j = 0; j < 11; ++j) {
      double a = gx.data_as<float>()[r * 22 + j], g = gx.data_as<float>()[r * 22 + 11 + j];
      gref[size_t(r * 11 + j)] = a * 0.5 * g * (1 + std::erf(g / std::sqrt(2.0)));
    }
  CHECK(ktest::rel_err(gy, gref) < kTolAct);
}

TEST(broadcast_add_mul_scale_and_channel_bias) {
  sd::Compute c;
  Tensor a = rand_tensor({2, 3, 5}, 19), a0 = rand_tensor({2, 3, 5}, 19);
  Tensor b = rand_tensor({3, 5}, 20);
  sd::ops::add_(c, a, b);
  for (int64_t i = 0; i < 30; ++i) CHECK(a.data_as<float>()[i] == a0.data_as<float>()[i] + b.data_as<float>()[i % 15]);
  Tensor m = rand_tensor({2, 3, 5}, 19), bias = rand_tensor({5}, 21);
  sd::ops::mul_(c, m, bias);
  for (int64_t i = 0; i < 30; ++i) CHECK(m.data_as<float>()[i] == a0.data_as<float>()[i] * bias.data_as<float>()[i % 5]);
  Tensor sc = rand_tensor({7}, 22);
  sd::ops::scale_(c, sc, 0.5f);
  CHECK(sc.data_as<float>()[3] == rand_tensor({7}, 22).data_as<float>()[3] * 0.5f);
  Tensor img = rand_tensor({2, 3, 4, 4}, 23), img0 = rand_tensor({2, 3, 4, 4}, 23), v = rand_tensor({2, 3}, 24);
  sd::ops::add_channel_bias_(c, img, v);
  for (int64_t i = 0; i < img.numel(); ++i) CHECK(img.data_as<float>()[i] == img0.data_as<float>()[i] + v.data_as<float>()[i / 16]);
  Tensor bad = rand_tensor({4}, 25);
  CHECK_THROWS_CODE(sd::ops::add_(c, a, bad), sd::ErrorCode::Internal);
}

TEST(upsample_concat_transpose_move_the_right_elements) {
  sd::Compute c;
  Tensor x = rand_tensor({1, 2, 3, 5}, 26);
  Tensor u = sd::ops::upsample_nearest2x(c, x);
  CHECK(u.shape() == (sd::Shape{1, 2, 6, 10}));
  bool ok = true;
  for (int ch = 0; ch < 2; ++ch)
    for (int y = 0; y < 6; ++y)
      for (int xx = 0; xx < 10; ++xx) ok &= u.data_as<float>()[(ch * 6 + y) * 10 + xx] == x.data_as<float>()[(ch * 3 + y / 2) * 5 + xx / 2];
  CHECK(ok);
  // Other sizes take PyTorch's nearest index, floor(i * in / out) in float:
  // 3 -> 5 rows read 0 0 1 1 2; 5 -> 9 columns read 0 0 1 1 2 2 3 3 4 (the
  // 2x map less its last column); 5 -> 3 reads 0 1 3.
  Tensor odd = sd::ops::upsample_nearest(c, x, 5, 9);
  CHECK(odd.shape() == (sd::Shape{1, 2, 5, 9}));
  const int rows[5] = {0, 0, 1, 1, 2}, cols[9] = {0, 0, 1, 1, 2, 2, 3, 3, 4};
  ok = true;
  for (int ch = 0; ch < 2; ++ch)
    for (int y = 0; y < 5; ++y)
      for (int xx = 0; xx < 9; ++xx)
        ok &= odd.data_as<float>()[(ch * 5 + y) * 9 + xx] == x.data_as<float>()[(ch * 3 + rows[y]) * 5 + cols[xx]];
  CHECK(ok);
  Tensor down = sd::ops::upsample_nearest(c, x, 3, 3);
  const int dcols[3] = {0, 1, 3};
  ok = true;
  for (int y = 0; y < 3; ++y)
    for (int xx = 0; xx < 3; ++xx) ok &= down.data_as<float>()[y * 3 + xx] == x.data_as<float>()[y * 5 + dcols[xx]];
  CHECK(ok);
  Tensor twice = sd::ops::upsample_nearest(c, x, 6, 10);
  CHECK(std::memcmp(twice.data(), u.data(), size_t(u.nbytes())) == 0);
  Tensor a = rand_tensor({2, 3, 4}, 27), b = rand_tensor({2, 1, 4}, 28);
  Tensor cat = sd::ops::concat(c, a, b, 1);
  CHECK(cat.shape() == (sd::Shape{2, 4, 4}));
  CHECK(cat.data_as<float>()[4 * 4 + 2 * 4 + 1] == a.data_as<float>()[3 * 4 + 2 * 4 + 1]);
  CHECK(cat.data_as<float>()[4 * 4 + 3 * 4 + 2] == b.data_as<float>()[1 * 4 + 2]);
  Tensor last = sd::ops::concat(c, a, rand_tensor({2, 3, 2}, 29), -1);
  CHECK(last.shape() == (sd::Shape{2, 3, 6}));
  Tensor t = rand_tensor({2, 37, 45}, 30);
  Tensor tt = sd::ops::transpose_last2(c, t);
  CHECK(tt.shape() == (sd::Shape{2, 45, 37}));
  ok = true;
  for (int bb = 0; bb < 2; ++bb)
    for (int r = 0; r < 37; ++r)
      for (int cc = 0; cc < 45; ++cc) ok &= tt.data_as<float>()[(bb * 45 + cc) * 37 + r] == t.data_as<float>()[(bb * 37 + r) * 45 + cc];
  CHECK(ok);
  CHECK_THROWS_CODE(sd::ops::concat(c, a, rand_tensor({3, 3, 4}, 31), 1), sd::ErrorCode::Internal);
}

TEST(timestep_embedding_matches_diffusers_formula) {
  Tensor t = Tensor::empty(DType::F32, {2});
  t.data_as<float>()[0] = 999.f;
  t.data_as<float>()[1] = 1.f;
  for (bool flip : {true, false}) {
    Tensor e = sd::ops::timestep_embedding(t, 320, flip, 0.f);
    std::vector<double> ref(640);
    for (int b = 0; b < 2; ++b)
      for (int i = 0; i < 160; ++i) {
        double arg = t.data_as<float>()[b] * std::exp(-std::log(10000.0) * i / 160.0);
        ref[size_t(b * 320 + i)] = flip ? std::cos(arg) : std::sin(arg);
        ref[size_t(b * 320 + 160 + i)] = flip ? std::sin(arg) : std::cos(arg);
      }
    // f32 argument rounding at t=999: |d arg| <= 999 * 2^-23 ~ 1.2e-4
    double worst = 0;
    for (int i = 0; i < 640; ++i) worst = std::max(worst, std::abs(e.data_as<float>()[i] - ref[size_t(i)]));
    CHECK_MSG(worst < 3e-4, "max abs err %g", worst);
  }
}

TEST(results_are_bit_identical_for_1_and_2_threads) {
  Tensor x = rand_tensor({1, 200, 70}, 32);
  Tensor w = ktest::as_dtype(rand_tensor({150, 70}, 33), DType::F16);
  auto lin = [&](sd::Compute& c) { return sd::ops::linear(c, x, w, nullptr); };
  CHECK(ktest::bit_equal(run_threads(1, lin), run_threads(2, lin)));
  Tensor img = rand_tensor({1, 8, 24, 20}, 34);
  Tensor cw = rand_tensor({12, 8, 3, 3}, 35);
  for (int s : {1, 2}) {
    auto conv = [&](sd::Compute& c) { return sd::ops::conv2d(c, img, cw, nullptr, s, 1); };
    CHECK_MSG(ktest::bit_equal(run_threads(1, conv), run_threads(2, conv)), "conv stride %d", s);
  }
  Tensor q = rand_tensor({1, 150, 32}, 36), k = rand_tensor({1, 300, 32}, 37), v = rand_tensor({1, 300, 32}, 38);
  auto att = [&](sd::Compute& c) { return sd::ops::attention(c, q, k, v, 2, false, 0.25f); };
  CHECK(ktest::bit_equal(run_threads(1, att), run_threads(2, att)));
  auto gn = [&](sd::Compute& c) { return sd::ops::group_norm(c, img, 4, rand_tensor({8}, 1), rand_tensor({8}, 2), 1e-6f, true); };
  CHECK(ktest::bit_equal(run_threads(1, gn), run_threads(2, gn)));
}

TEST(bad_shapes_raise_typed_errors) {
  sd::Compute c;
  Tensor x = rand_tensor({2, 8}, 39);
  CHECK_THROWS_CODE(sd::ops::linear(c, x, rand_tensor({4, 7}, 40), nullptr), sd::ErrorCode::Internal);
  CHECK_THROWS_CODE(sd::ops::conv2d(c, rand_tensor({1, 3, 4, 4}, 41), rand_tensor({2, 4, 3, 3}, 42), nullptr, 1, 1),
                    sd::ErrorCode::Internal);
  Tensor i32 = Tensor::zeros(DType::I32, {4, 32});  // not a weight dtype any kernel takes
  CHECK_THROWS_CODE(sd::ops::linear(c, rand_tensor({1, 32}, 43), i32, nullptr), sd::ErrorCode::ModelUnsupported);
  CHECK_THROWS_CODE(sd::ops::group_norm(c, rand_tensor({1, 6, 2, 2}, 44), 4, rand_tensor({6}, 1), rand_tensor({6}, 2), 1e-5f),
                    sd::ErrorCode::Internal);
}
