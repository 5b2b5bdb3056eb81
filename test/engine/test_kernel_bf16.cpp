// The bf16 GEMM of precision "fast" (kernels/gemm_bf16.h): its portable
// reference against exact products of the original values, the operand
// rounding (nearest even), and, where the current path has the vdpbf16ps
// kernel (avx512 with AVX-512 BF16, incl. the SIMDe-emulated test build),
// the kernel against the reference on odd shapes, dtypes, strides and thread
// counts. ctest runs it under every SD_NATIVE_CPU path.
#define SD_TEST_MAIN
#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "harness.h"
#include "kernel_test_util.h"
#include "kernels/gemm_bf16.h"
#include "kernels/kernel_table.h"
#include "kernels/ops.h"
#include "kernels/quant_table.h"
#include "pipeline/precision.h"
#include "tensor/cpu_features.h"
#include "tensor/thread_pool.h"

using sd::DType;
using sd::Tensor;
using sd::kern::MatView;

static int skip_ = ktest::skip_if_path_unsupported();

namespace {

// The stored value of element i of a ktest::as_dtype tensor.
double value_at(const Tensor& t, int64_t i) {
  switch (t.dtype()) {
    case DType::F16: return sd::f16_to_f32(t.data_as<uint16_t>()[i]);
    case DType::BF16: return sd::bf16_to_f32(t.data_as<uint16_t>()[i]);
    default: return t.data_as<float>()[i];
  }
}

struct Case {
  int64_t M, N, K;
  DType wdt;
  bool w_nk;  // B stored [N, K] (Linear weights) or [K, N]
  bool bias;
};

struct Operands {
  Tensor a, w;  // a [M, K] f32; w [N, K] or [K, N] in wdt
  std::vector<float> bias;
  MatView A, B;
  // Exact sum_k a*b (of the stored values) and sum_k |a*b| + |bias|, per element.
  std::vector<double> exact, mag;
};

Operands make(const Case& c, uint64_t seed) {
  Operands o;
  o.a = ktest::rand_tensor({c.M, c.K}, seed);
  o.w = ktest::as_dtype(ktest::rand_tensor(c.w_nk ? sd::Shape{c.N, c.K} : sd::Shape{c.K, c.N}, seed + 1), c.wdt);
  if (c.bias) {
    Tensor b = ktest::rand_tensor({c.N}, seed + 2);
    o.bias.assign(b.data_as<float>(), b.data_as<float>() + c.N);
  }
  o.A = {o.a.data(), DType::F32, c.K, 1};
  o.B = c.w_nk ? MatView{o.w.data(), c.wdt, 1, c.K} : MatView{o.w.data(), c.wdt, c.N, 1};
  o.exact.assign(size_t(c.M * c.N), 0.0);
  o.mag.assign(size_t(c.M * c.N), 0.0);
  for (int64_t i = 0; i < c.M; ++i)
    for (int64_t j = 0; j < c.N; ++j) {
      double s = c.bias ? o.bias[size_t(j)] : 0.0, m = std::fabs(s);
      for (int64_t k = 0; k < c.K; ++k) {
        const double p = double(o.a.data_as<float>()[i * c.K + k]) * value_at(o.w, c.w_nk ? j * c.K + k : k * c.N + j);
        s += p;
        m += std::fabs(p);
      }
      o.exact[size_t(i * c.N + j)] = s;
      o.mag[size_t(i * c.N + j)] = m;
    }
  return o;
}

const Case kCases[] = {
    {1, 1, 1, DType::F32, true, false},     {7, 17, 3, DType::F32, true, true},    {14, 32, 64, DType::F16, true, false},
    {15, 33, 31, DType::BF16, true, true},  {29, 70, 2, DType::F32, false, false}, {100, 40, 401, DType::F16, true, true},
    {8, 65, 385, DType::BF16, false, true}, {3, 2100, 5, DType::F32, true, true},  {43, 31, 777, DType::F32, false, false},
};

}  // namespace

// Against exact products of the original values: operand rounding costs at
// most 2^-8 relative per operand (bf16 keeps 8 significant bits), so each
// product is off by <= (2^-7 + 2^-16)|ab|, and the f32 sum of K + 1 terms adds
// <= (K + 1) 2^-24 of the magnitude sum: |c - exact| <= that bound x sum|ab|.
TEST(reference_is_within_bf16_rounding_of_the_exact_product) {
  uint64_t seed = 10;
  for (const Case& c : kCases) {
    Operands o = make(c, seed++);
    std::vector<float> ref(size_t(c.M * c.N));
    sd::kern::gemm_bf16_reference(c.M, c.N, c.K, o.A, o.B, ref.data(), c.N, c.bias ? o.bias.data() : nullptr);
    const double u = std::ldexp(1.0, -7) + std::ldexp(1.0, -16) + double(c.K + 1) * std::ldexp(1.0, -24) * 1.01;
    double worst = 0, err2 = 0, ref2 = 0;
    for (size_t i = 0; i < ref.size(); ++i) {
      worst = std::max(worst, std::fabs(ref[i] - o.exact[i]) / (u * o.mag[i] + 1e-30));
      err2 += (ref[i] - o.exact[i]) * (ref[i] - o.exact[i]);
      ref2 += o.exact[i] * o.exact[i];
    }
    CHECK_MSG(worst <= 1.0, "M%lld N%lld K%lld: error %.3g of the bound", (long long)c.M, (long long)c.N, (long long)c.K, worst);
    // Not exact f32 either: bf16 rounding must show (guards against a no-op).
    if (c.K >= 31 && c.wdt == DType::F32)
      CHECK_MSG(std::sqrt(err2 / ref2) > 1e-4, "rel %.3g: operands not rounded to bf16", std::sqrt(err2 / ref2));
  }
}

// Round to nearest even at bf16's 2^-7 spacing near 1, for f32 and f16
// operands, in the reference and (where present) the kernel.
TEST(operands_round_to_nearest_even_bf16) {
  struct R {
    float x, want;
  };
  const R rs[] = {
      {1.f + 0x1p-8f, 1.f},                       // tie, 1 is even
      {1.f + 3 * 0x1p-8f, 1.f + 0x1p-6f},         // tie, 1 + 2^-6 is even
      {1.f + 0x1p-8f + 0x1p-10f, 1.f + 0x1p-7f},  // above the tie (f16-exact)
      {-(1.f + 0x1p-8f - 0x1p-10f), -1.f},        // below the tie
  };
  for (const R& r : rs)
    for (DType wdt : {DType::F32, DType::F16}) {
      const float w1 = 1.f;
      const uint16_t xh = sd::f32_to_f16(r.x);  // the test values are f16-exact
      const MatView one{&w1, DType::F32, 1, 1};
      const MatView val = wdt == DType::F32 ? MatView{&r.x, DType::F32, 1, 1} : MatView{&xh, DType::F16, 1, 1};
      float c = 0;
      sd::kern::gemm_bf16_reference(1, 1, 1, one, val, &c, 1);
      CHECK_MSG(c == r.want, "%s %.9g -> %.9g, want %.9g", sd::dtype_name(wdt), double(r.x), double(c), double(r.want));
      if (sd::kern::gemm_bf16_available()) {
        sd::kern::gemm_bf16(nullptr, 1, 1, 1, one, val, &c, 1);
        CHECK_MSG(c == r.want, "kernel %s %.9g -> %.9g", sd::dtype_name(wdt), double(r.x), double(c));
      }
    }
}

// The same rounding on whole rows (the kernel's vector rounding takes groups
// of 16 pairs, the rest is scalar), incl. subnormals flushing to zero: values
// times an identity, as A (x [1, K] @ I) and as B (I [K, K] @ x^T).
TEST(row_rounding_matches_on_vector_groups_and_tails) {
  const float vals[] = {1.f + 0x1p-8f, 1.f + 3 * 0x1p-8f, 1.f + 0x1p-8f + 0x1p-10f, -(1.f + 0x1p-8f - 0x1p-10f), 1e-39f, -3e-39f, 0.3f};
  const float want[] = {1.f, 1.f + 0x1p-6f, 1.f + 0x1p-7f, -1.f, 0.f, 0.f, sd::bf16_to_f32(sd::f32_to_bf16(0.3f))};
  const int nv = 7;
  for (int64_t K : {37, 70}) {
    std::vector<float> x(static_cast<size_t>(K)), eye(static_cast<size_t>(K * K), 0.f), c(static_cast<size_t>(K));
    for (int64_t k = 0; k < K; ++k) {
      x[size_t(k)] = vals[k % nv];
      eye[size_t(k * K + k)] = 1.f;
    }
    const MatView xa{x.data(), DType::F32, K, 1}, xb{x.data(), DType::F32, 1, K}, I{eye.data(), DType::F32, K, 1};
    for (int run = 0; run < (sd::kern::gemm_bf16_available() ? 4 : 2); ++run) {
      const bool as_a = run % 2 == 0;
      std::fill(c.begin(), c.end(), -7.f);
      if (run < 2)
        as_a ? sd::kern::gemm_bf16_reference(1, K, K, xa, I, c.data(), K) : sd::kern::gemm_bf16_reference(K, 1, K, I, xb, c.data(), 1);
      else
        as_a ? sd::kern::gemm_bf16(nullptr, 1, K, K, xa, I, c.data(), K) : sd::kern::gemm_bf16(nullptr, K, 1, K, I, xb, c.data(), 1);
      for (int64_t k = 0; k < K; ++k)
        CHECK_MSG(c[size_t(k)] == want[k % nv], "K%lld %s %s k=%lld: %.9g -> %.9g, want %.9g", (long long)K,
                  run < 2 ? "reference" : "kernel", as_a ? "A" : "B", (long long)k, double(vals[k % nv]), double(c[size_t(k)]),
                  double(want[k % nv]));
    }
  }
}

// Kernel vs reference: both sum the same exact bf16 products (and the bias)
// in f32, only in different groupings (depth blocks, bias first), so each is
// within (K + 2) 2^-24 x sum|terms| of the exact sum of those terms and they
// differ by at most twice that (sum|terms| <= 1.01 x the originals').
TEST(kernel_matches_reference_on_odd_shapes_dtypes_and_strides) {
  if (!sd::kern::gemm_bf16_available()) {
    std::printf("  (no bf16 kernel on the %s path: reference only)\n", sd::cpu_path_name(sd::cpu_path()));
    return;
  }
  sd::ThreadPool pool(2);
  uint64_t seed = 100;
  for (const Case& c : kCases) {
    Operands o = make(c, seed++);
    std::vector<float> ref(size_t(c.M * c.N)), got(size_t(c.M * (c.N + 3)), -7.f);
    const int64_t ldc = c.N + 3;  // strided C: the padding must stay untouched
    sd::kern::gemm_bf16_reference(c.M, c.N, c.K, o.A, o.B, ref.data(), c.N, c.bias ? o.bias.data() : nullptr);
    sd::kern::gemm_bf16(&pool, c.M, c.N, c.K, o.A, o.B, got.data(), ldc, c.bias ? o.bias.data() : nullptr);
    const double u = 2.0 * double(c.K + 2) * std::ldexp(1.0, -24) * 1.01;
    double worst = 0;
    bool pad_ok = true;
    for (int64_t i = 0; i < c.M; ++i) {
      for (int64_t j = 0; j < c.N; ++j) {
        const size_t e = size_t(i * c.N + j);
        worst = std::max(worst, std::fabs(double(got[size_t(i * ldc + j)]) - ref[e]) / (u * o.mag[e] + 1e-30));
      }
      for (int64_t j = c.N; j < ldc; ++j) pad_ok = pad_ok && got[size_t(i * ldc + j)] == -7.f;
    }
    CHECK_MSG(worst <= 1.0, "M%lld N%lld K%lld %s: error %.3g of the bound", (long long)c.M, (long long)c.N, (long long)c.K,
              sd::dtype_name(c.wdt), worst);
    CHECK(pad_ok);
  }
}

TEST(kernel_is_bit_identical_for_1_and_2_threads) {
  if (!sd::kern::gemm_bf16_available()) return;
  const Case c{100, 300, 401, DType::F16, true, true};
  Operands o = make(c, 7);
  std::vector<float> y1(size_t(c.M * c.N)), y2(y1.size());
  sd::ThreadPool p1(1), p2(2);
  sd::kern::gemm_bf16(&p1, c.M, c.N, c.K, o.A, o.B, y1.data(), c.N, o.bias.data());
  sd::kern::gemm_bf16(&p2, c.M, c.N, c.K, o.A, o.B, y2.data(), c.N, o.bias.data());
  CHECK(std::memcmp(y1.data(), y2.data(), y1.size() * 4) == 0);
}

// Compute::bf16 (precision "fast") switches linear() to the bf16 GEMM
// where the path has it and changes nothing elsewhere; off is the default.
TEST(linear_runs_the_bf16_gemm_only_when_asked_and_available) {
  const Tensor x = ktest::rand_tensor({5, 3, 40}, 21), w = ktest::as_dtype(ktest::rand_tensor({24, 40}, 22), DType::F16);
  const Tensor b = ktest::rand_tensor({24}, 23);
  sd::Compute c;
  CHECK(!c.bf16);
  const Tensor y0 = sd::ops::linear(c, x, w, &b);  // [5, 3, 24]
  c.bf16 = true;
  const Tensor y1 = sd::ops::linear(c, x, w, &b);
  if (sd::kern::gemm_bf16_available()) {
    std::vector<float> g(15 * 24);
    sd::kern::gemm_bf16(nullptr, 15, 24, 40, {x.data(), DType::F32, 40, 1}, {w.data(), DType::F16, 1, 40}, g.data(), 24,
                        b.data_as<float>());
    CHECK(std::memcmp(g.data(), y1.data(), g.size() * 4) == 0);
    CHECK(!ktest::bit_equal(y0, y1));
  } else {
    CHECK(ktest::bit_equal(y0, y1));
  }
}

// The path under test really is the one asked for: in the emulated build
// (SD_NATIVE_CPU=avx512) the AVX-512 tables, incl. VNNI and BF16, are live;
// under SD_NATIVE_CPU=avx2 there, AVX-VNNI's integer table.
TEST(x86_paths_select_their_kernels) {
  const sd::CpuFeatures& f = sd::cpu_features();
  const bool avx512 = sd::cpu_path() == sd::CpuPath::Avx512;
  const char* vnni256 = sd::kern::quant_avxvnni_table() ? "avx2-vnni" : "avx2";  // nullptr also where the compiler lacks -mavxvnni
  CHECK(sd::kern::gemm_bf16_available() == (avx512 && f.avx512bf16));
  if (avx512) {
    CHECK(std::strcmp(sd::kern::table().name, "avx512") == 0);
    CHECK(std::strcmp(sd::kern::quant_table().name, f.avx512vnni ? "avx512-vnni" : vnni256) == 0);
  }
  if (sd::cpu_path() == sd::CpuPath::Avx2) {
    CHECK(std::strcmp(sd::kern::quant_table().name, vnni256) == 0);
    CHECK(!sd::kern::quant_avxvnni_table() || f.avxvnni);
  }
#if defined(SD_TEST_EMULATED_AVX512)
  CHECK(sd::kern::quant_avxvnni_table() != nullptr);  // the emulated build always has it
#endif
}

// precision "fast" runs only where the bf16 kernel exists; elsewhere it
// falls back to the default path with a warning. Default never warns.
TEST(fast_precision_resolves_to_the_bf16_kernel_or_warns) {
  std::vector<std::string> warnings;
  CHECK(sd::resolve_precision(sd::Precision::Default, &warnings) == sd::Precision::Default);
  CHECK(warnings.empty());
  const sd::Precision got = sd::resolve_precision(sd::Precision::Fast, &warnings);
  if (sd::kern::gemm_bf16_available()) {
    CHECK(got == sd::Precision::Fast);
    CHECK(warnings.empty());
  } else {
    CHECK(got == sd::Precision::Default);
    CHECK(warnings.size() == 1);
  }
}
