// ops::attention under precision "fast" (Compute::bf16, kernels/
// attention_bf16.cpp): where the current path has the vdpbf16ps kernel
// (avx512 with AVX-512 BF16, incl. the SIMDe-emulated test build), against a
// double-precision reference with the same operand rounding, on odd shapes
// (query/key/head-size tails, several key blocks, causal) and 1 and 2
// threads; elsewhere the flag must change nothing. Also the pair packing
// (Bf16Kernel::pack_rows) against the scalar rounding. ctest runs it under
// every SD_NATIVE_CPU path.
#define SD_TEST_MAIN
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "harness.h"
#include "kernel_test_util.h"
#include "kernels/gemm_bf16.h"
#include "kernels/ops.h"
#include "tensor/cpu_features.h"
#include "tensor/thread_pool.h"

using sd::Tensor;

static int skip_ = ktest::skip_if_path_unsupported();

namespace {

constexpr float kLog2e = 1.44269504088896341f;  // the op's base-2 softmax

double bf(float x) {
  const uint32_t h = sd::kern::round_bf16(x) << 16;
  float f;
  std::memcpy(&f, &h, 4);
  return f;
}

struct Case {
  int64_t B, Nq, Nk;
  int heads;
  int64_t D;
  bool causal;
  float qscale;  // spread of q: larger = peakier softmax
};

// Key blocks are 266 keys (19 panels of 14): 541 keys are 3 blocks, the last
// of 9 keys (an odd pair count); D 13 and 45 leave a half pair, 45 and 160
// span several row panels of V^T; 37, 70 and 300 queries leave partial
// 32-query panels.
const Case kCases[] = {
    {2, 37, 77, 3, 40, false, 1.f},   // cross-attention-like: one key block
    {1, 300, 300, 2, 13, true, 2.f},  // causal over two key blocks
    {1, 70, 541, 1, 45, false, 3.f},  // odd last key block
    {1, 33, 19, 2, 160, false, 1.f},  // SD's largest head size, few keys
    {1, 20, 30, 1, 401, false, 1.f},  // one wide head (the VAE's is 512): K packed in chunks of 192 pairs
};

struct Inputs {
  Tensor q, k, v;  // [B, N, H*D]
  float scale;
};

Inputs make(const Case& c, uint64_t seed) {
  const int64_t HD = c.heads * c.D;
  return {ktest::rand_tensor({c.B, c.Nq, HD}, seed, c.qscale), ktest::rand_tensor({c.B, c.Nk, HD}, seed + 1),
          ktest::rand_tensor({c.B, c.Nk, HD}, seed + 2), 1.f / std::sqrt(float(c.D))};
}

// The products the kernel forms, in double: base-2 scores from bf16(s log2(e)
// q) (the scale applied in f32 first) and bf16(k), exact softmax weights w,
// o = sum w bf16(v); also a = sum w |bf16(v)| and, per query, S = the largest
// sum_d |bf16(s q) bf16(k)| over its keys.
struct Reference {
  std::vector<double> o, a, S;
};

Reference reference(const Case& c, const Inputs& in) {
  const int64_t HD = c.heads * c.D;
  const float cs = in.scale * kLog2e;
  Reference r;
  r.o.assign(size_t(c.B * c.Nq * HD), 0.0);
  r.a.assign(r.o.size(), 0.0);
  r.S.assign(size_t(c.B * c.Nq * c.heads), 0.0);
  std::vector<double> s(size_t(c.Nk)), qr(size_t(c.D));
  for (int64_t b = 0; b < c.B; ++b)
    for (int h = 0; h < c.heads; ++h)
      for (int64_t i = 0; i < c.Nq; ++i) {
        const float* q = in.q.data_as<float>() + (b * c.Nq + i) * HD + h * c.D;
        for (int64_t d = 0; d < c.D; ++d) qr[size_t(d)] = bf(cs * q[d]);
        const int64_t nk = c.causal ? i + 1 : c.Nk;
        double mx = -INFINITY, S = 0;
        for (int64_t j = 0; j < nk; ++j) {
          const float* k = in.k.data_as<float>() + (b * c.Nk + j) * HD + h * c.D;
          double dot = 0, mag = 0;
          for (int64_t d = 0; d < c.D; ++d) {
            dot += qr[size_t(d)] * bf(k[d]);
            mag += std::fabs(qr[size_t(d)] * bf(k[d]));
          }
          s[size_t(j)] = dot;
          mx = std::max(mx, dot);
          S = std::max(S, mag);
        }
        double l = 0;
        for (int64_t j = 0; j < nk; ++j) l += (s[size_t(j)] = std::exp2(s[size_t(j)] - mx));
        const size_t row = size_t((b * c.Nq + i) * HD + h * c.D);
        for (int64_t j = 0; j < nk; ++j) {
          const float* v = in.v.data_as<float>() + (b * c.Nk + j) * HD + h * c.D;
          for (int64_t d = 0; d < c.D; ++d) {
            r.o[row + size_t(d)] += s[size_t(j)] / l * bf(v[d]);
            r.a[row + size_t(d)] += s[size_t(j)] / l * std::fabs(bf(v[d]));
          }
        }
        r.S[size_t((b * c.Nq + i) * c.heads + h)] = S;
      }
  return r;
}

Tensor fast_attention(const Case& c, const Inputs& in, sd::ThreadPool* pool) {
  sd::Compute cp;
  cp.pool = pool;
  cp.bf16 = true;
  return sd::ops::attention(cp, in.q, in.k, in.v, c.heads, c.causal, in.scale);
}

}  // namespace

// Bound per output element, relative to a = sum_j w_j |bf16(v_jd)|:
// - P is rounded to bf16 for the PV product (not in the normaliser l): each
//   term off by <= 2^-8 relative, i.e. <= 2^-8 a in all;
// - the f32 scores are off by <= (D + 1) 2^-24 S (S as in Reference), so each
//   weight, after normalisation, by a factor within 2^(+-2 (D + 1) 2^-24 S);
//   the softmax's exp2 approximation adds eta <= 2^-20 relative per weight
//   (its own tests hold it to a few f32 ulps); a relative perturbation e of
//   the weights moves o by <= 2e a;
// - the f32 sums over keys (PV, l) add <= 2 (Nk + 2) 2^-24 a.
// 5% margin for second-order terms. A kernel that pairs the wrong depth
// halves, drops the scale or misplaces a block is off by O(a).
TEST(fast_attention_is_within_bf16_p_rounding_of_the_rounded_operand_reference) {
  if (!sd::kern::gemm_bf16_available()) {
    std::printf("  (no bf16 kernel on the %s path)\n", sd::cpu_path_name(sd::cpu_path()));
    return;
  }
  sd::ThreadPool pool(2);
  uint64_t seed = 40;
  for (const Case& c : kCases) {
    const Inputs in = make(c, seed);
    seed += 3;
    const Reference r = reference(c, in);
    const Tensor got = fast_attention(c, in, &pool);
    const int64_t HD = c.heads * c.D;
    const double u = std::ldexp(1.0, -24), eta = std::ldexp(1.0, -20);
    double worst = 0;
    for (int64_t e = 0; e < got.numel(); ++e) {
      const int64_t row = e / HD, h = (e % HD) / c.D;
      const double S = r.S[size_t(row * c.heads + h)];
      const double wrel = std::exp2(2.0 * double(c.D + 1) * u * S) - 1.0 + eta;
      const double bound = 1.05 * (std::ldexp(1.0, -8) + 2.0 * wrel + 2.0 * double(c.Nk + 2) * u) * r.a[size_t(e)];
      worst = std::max(worst, std::fabs(got.data_as<float>()[e] - r.o[size_t(e)]) / (bound + 1e-30));
    }
    std::printf("  B%lld q%lld k%lld h%d d%lld%s: worst error %.3f of the bound\n", (long long)c.B, (long long)c.Nq, (long long)c.Nk,
                c.heads, (long long)c.D, c.causal ? " causal" : "", worst);
    CHECK_MSG(worst <= 1.0, "q%lld k%lld d%lld: error %.3g of the bound", (long long)c.Nq, (long long)c.Nk, (long long)c.D, worst);
  }
}

// Against the default fp32 op (exact operands): close, but not equal (the
// bf16 products really ran). rel_l2 of bf16 attention on these inputs is
// ~2-3e-3 (operands at 2^-9 relative rms); 1.5e-2 leaves 5x margin.
TEST(fast_attention_is_close_to_the_fp32_op_but_not_equal) {
  sd::ThreadPool pool(2);
  uint64_t seed = 60;
  for (const Case& c : kCases) {
    const Inputs in = make(c, seed);
    seed += 3;
    sd::Compute cp;
    cp.pool = &pool;
    const Tensor exact = sd::ops::attention(cp, in.q, in.k, in.v, c.heads, c.causal, in.scale);
    const Tensor fast = fast_attention(c, in, &pool);
    if (!sd::kern::gemm_bf16_available()) {
      CHECK(ktest::bit_equal(exact, fast));  // the flag alone changes nothing
      continue;
    }
    const double rel = sdtest::rel_l2(fast.data_as<float>(), exact.data_as<float>(), size_t(exact.numel()));
    std::printf("  q%lld k%lld d%lld: rel_l2 vs fp32 %.3g\n", (long long)c.Nq, (long long)c.Nk, (long long)c.D, rel);
    CHECK_MSG(rel > 1e-4 && rel < 1.5e-2, "rel_l2 %.3g", rel);
  }
}

TEST(fast_attention_is_bit_identical_for_1_and_2_threads) {
  const Case& c = kCases[1];
  const Inputs in = make(c, 80);
  sd::ThreadPool p1(1), p2(2);
  CHECK(ktest::bit_equal(fast_attention(c, in, &p1), fast_attention(c, in, &p2)));
}

// pack_rows = the scalar rounding of s * x, pairwise: ties to even,
// subnormal results to signed zero, NaN quiet, on 32 lanes (two vectors).
TEST(pack_rows_rounds_like_the_scalar_packing) {
  const sd::kern::Bf16Kernel* kt = sd::kern::bf16_kernel();
  if (!kt) return;
  const float special[] = {1.f + 0x1p-8f, 1.f + 3 * 0x1p-8f, -(1.f + 0x1p-8f - 0x1p-10f), 1e-39f, -3e-39f, NAN, INFINITY, 0.3f};
  for (float s : {1.f, 0.1581139f}) {
    std::vector<float> lo(32), hi(32);
    ktest::Rng rng(5);
    for (int j = 0; j < 32; ++j) {
      lo[size_t(j)] = j < 8 ? special[j] : rng.uniform() * 100.f;
      hi[size_t(j)] = j >= 24 ? special[j - 24] : rng.uniform();
    }
    std::vector<uint32_t> got(32);
    kt->pack_rows(lo.data(), hi.data(), 32, s, got.data());
    for (int j = 0; j < 32; ++j) {
      const uint32_t want = sd::kern::round_bf16(s * lo[size_t(j)]) | sd::kern::round_bf16(s * hi[size_t(j)]) << 16;
      CHECK_MSG(got[size_t(j)] == want, "s %g lane %d: %08x, want %08x", double(s), j, got[size_t(j)], want);
    }
  }
}
