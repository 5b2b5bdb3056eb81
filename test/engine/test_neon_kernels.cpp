// arm64 only (test/engine/CMakeLists.txt builds it where SD_IS_ARM64): the
// NEON path is the default there, and its element-wise entries agree with
// the scalar table on every length around the 4-lane vectors (tails). The
// GEMM, Winograd and softmax entries are covered through the ops by the
// per-path tests (test_kernel_paths, test_ops_*), which run under neon too;
// transpose_f32 here too (bit-exact, every dtype, tails, unaligned source).
#define SD_TEST_MAIN
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <utility>
#include <vector>

#include "harness.h"
#include "kernel_test_util.h"
#include "kernels/kernel_table.h"
#include "tensor/cpu_features.h"

using sd::DType;
namespace kern = sd::kern;

namespace {

std::vector<float> rand_vec(int64_t n, uint64_t seed, float scale) {
  ktest::Rng r(seed);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = r.uniform() * scale;
  return v;
}

// Largest |a - b| / max(1, |b|) over the first n elements.
double max_err(const std::vector<float>& a, const std::vector<float>& b) {
  double e = 0;
  for (size_t i = 0; i < b.size(); ++i) {
    const double d = std::fabs(double(a[i]) - b[i]) / std::fmax(1.0, std::fabs(double(b[i])));
    if (d > e || d != d) e = d;  // NaN counts as an error
  }
  return e;
}

}  // namespace

TEST(neon_is_the_default_path_on_arm64) {
  CHECK(sd::cpu_features().neon);
  CHECK(sd::cpu_path_supported(sd::CpuPath::Neon));
  CHECK(!sd::cpu_path_supported(sd::CpuPath::Avx2));
  // The default, unless SD_NATIVE_CPU=scalar asked for the reference path.
  const char* env = std::getenv("SD_NATIVE_CPU");
  const bool scalar = env && std::strcmp(env, "scalar") == 0;
  CHECK(sd::cpu_path() == (scalar ? sd::CpuPath::Scalar : sd::CpuPath::Neon));
  CHECK(std::strcmp(kern::table().name, scalar ? "scalar" : "neon") == 0);
  CHECK(sd::set_cpu_path(sd::CpuPath::Scalar));
  CHECK(std::strcmp(kern::table().name, "scalar") == 0);
  CHECK(sd::set_cpu_path(sd::CpuPath::Neon));
}

TEST(conversions_are_exact_on_every_tail) {
  const kern::Table &s = kern::scalar_table(), &t = *kern::neon_table();
  for (int64_t n = 0; n <= 37; ++n)
    for (DType d : {DType::F16, DType::BF16}) {
      std::vector<float> x = rand_vec(n, uint64_t(n) + 1, 300.f);
      if (n > 2) x[1] = INFINITY, x[2] = -0.f;
      std::vector<uint16_t> h(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) h[size_t(i)] = d == DType::F16 ? sd::f32_to_f16(x[size_t(i)]) : sd::f32_to_bf16(x[size_t(i)]);
      std::vector<float> ref(size_t(n) + 1, 7.f), got(size_t(n) + 1, 7.f);  // one guard element
      s.convert_to_f32(d, h.data(), n, ref.data());
      t.convert_to_f32(d, h.data(), n, got.data());
      CHECK_MSG(std::memcmp(ref.data(), got.data(), got.size() * 4) == 0, "%s n=%lld", sd::dtype_name(d), (long long)n);
    }
}

TEST(max_exp_and_activations_agree_with_scalar_on_every_tail) {
  const kern::Table &s = kern::scalar_table(), &t = *kern::neon_table();
  for (int64_t n = 1; n <= 37; ++n) {
    const std::vector<float> x = rand_vec(n, uint64_t(n) + 100, 8.f);
    CHECK_MSG(s.max_of(x.data(), n) == t.max_of(x.data(), n), "max n=%lld", (long long)n);
    std::vector<float> a = x, b = x;
    const float m = s.max_of(x.data(), n);
    a.push_back(5.f), b.push_back(5.f);  // guard: must stay untouched
    const float sa = s.exp_shift_sum(a.data(), n, m), sb = t.exp_shift_sum(b.data(), n, m);
    CHECK_MSG(max_err(b, a) < 1e-6 && std::fabs(sa - sb) < 1e-6 * sa && b.back() == 5.f, "exp n=%lld", (long long)n);
    using Map = void (*)(float*, int64_t);
    const std::pair<const char*, Map kern::Table::*> kMaps[] = {
        {"silu", &kern::Table::silu}, {"gelu", &kern::Table::gelu}, {"quick_gelu", &kern::Table::quick_gelu}};
    for (const auto& [name, fn] : kMaps) {
      a = x, b = x;
      a.push_back(5.f), b.push_back(5.f);
      (s.*fn)(a.data(), n);
      (t.*fn)(b.data(), n);
      // erf by A&S 7.1.26: 1.5e-7 absolute, times |x| <= 8.
      CHECK_MSG(max_err(b, a) < 2e-6 && b.back() == 5.f, "%s n=%lld: %g", name, (long long)n, max_err(b, a));
    }
  }
}

TEST(softmax2_cols_agrees_with_scalar_including_masked_columns) {
  const kern::Table &s = kern::scalar_table(), &t = *kern::neon_table();
  const int64_t w = 16;
  for (int64_t rows : {1, 3, 4, 7, 30}) {
    std::vector<float> p = rand_vec(rows * w, uint64_t(rows), 20.f);
    for (int64_t j = 0; j < rows; ++j) p[size_t(j * w + 5)] = -INFINITY;  // a fully masked column
    std::vector<float> m = rand_vec(w, 7, 10.f), l = rand_vec(w, 8, 1.f);
    m[0] = m[5] = -INFINITY;  // first block of a column; masked column stays at -inf
    l[0] = l[5] = 0.f;
    std::vector<float> p2 = p, m2 = m, l2 = l, al(static_cast<size_t>(w)), al2(static_cast<size_t>(w));
    s.softmax2_cols(p.data(), rows, w, m.data(), l.data(), al.data());
    t.softmax2_cols(p2.data(), rows, w, m2.data(), l2.data(), al2.data());
    CHECK_MSG(m == m2, "rows=%lld: running max", (long long)rows);
    CHECK_MSG(max_err(p2, p) < 1e-6 && max_err(l2, l) < 1e-6, "rows=%lld: p %g l %g", (long long)rows, max_err(p2, p), max_err(l2, l));
    // alpha: 2^-126 stands in for 0 where the old max was -inf.
    CHECK_MSG(max_err(al2, al) < 1e-6, "rows=%lld: alpha %g", (long long)rows, max_err(al2, al));
  }
}

TEST(transpose_is_exact_for_every_dtype_tail_and_unaligned_source) {
  const kern::Table &s = kern::scalar_table(), &t = *kern::neon_table();
  for (DType d : {DType::F32, DType::F16, DType::BF16})
    for (int64_t rows : {1, 4, 7, 9})
      for (int64_t cols : {3, 4, 8, 13}) {
        const int64_t ld = cols + 2, ldd = rows + 3, es = d == DType::F32 ? 4 : 2;
        std::vector<float> x = rand_vec(rows * ld, uint64_t(rows * 100 + cols), 50.f);
        // One spare byte in front: the source starts at an odd address.
        std::vector<uint8_t> buf(static_cast<size_t>(rows * ld * es + 1));
        for (int64_t i = 0; i < rows * ld; ++i) {
          const uint16_t h = d == DType::F16 ? sd::f32_to_f16(x[size_t(i)]) : sd::f32_to_bf16(x[size_t(i)]);
          std::memcpy(buf.data() + 1 + i * es, d == DType::F32 ? static_cast<const void*>(&x[size_t(i)]) : &h, size_t(es));
        }
        std::vector<float> ref(static_cast<size_t>(cols * ldd), 7.f), got = ref;  // untouched padding must stay 7
        s.transpose_f32(d, buf.data() + 1, ld, rows, cols, ref.data(), ldd);
        t.transpose_f32(d, buf.data() + 1, ld, rows, cols, got.data(), ldd);
        CHECK_MSG(std::memcmp(ref.data(), got.data(), got.size() * 4) == 0, "%s %lldx%lld", sd::dtype_name(d), (long long)rows,
                  (long long)cols);
      }
}
