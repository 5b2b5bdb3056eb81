// Shared helpers for the kernel/op tests: deterministic random tensors, f16 /
// bf16 weight copies, the SD_NATIVE_CPU skip rule, bitwise comparison and the
// double direct convolution the conv tests compare against.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "tensor/cpu_features.h"
#include "tensor/tensor.h"

namespace ktest {

// SD_NATIVE_CPU names a path this CPU lacks: exit 77 (ctest "skipped").
inline int skip_if_path_unsupported() {
  if (!sd::cpu_path_request_satisfied()) {
    std::printf("SD_NATIVE_CPU=%s is not supported on this CPU: skipped\n", std::getenv("SD_NATIVE_CPU"));
    std::exit(77);
  }
  return 0;
}

struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ull + 1) {}
  float uniform() {  // [-1, 1)
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    return float((s >> 40) & 0xFFFFFF) / float(1 << 23) - 1.f;
  }
};

inline sd::Tensor rand_tensor(const sd::Shape& shape, uint64_t seed, float scale = 1.f) {
  sd::Tensor t = sd::Tensor::empty(sd::DType::F32, shape);
  Rng r(seed);
  float* p = t.data_as<float>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = r.uniform() * scale;
  return t;
}

// Copy of an f32 tensor stored as f16 or bf16 (or f32).
inline sd::Tensor as_dtype(const sd::Tensor& t, sd::DType d) {
  if (d == sd::DType::F32) return t;
  sd::Tensor o = sd::Tensor::empty(d, t.shape());
  const float* s = t.data_as<float>();
  uint16_t* q = o.data_as<uint16_t>();
  for (int64_t i = 0; i < t.numel(); ++i) q[i] = d == sd::DType::F16 ? sd::f32_to_f16(s[i]) : sd::f32_to_bf16(s[i]);
  return o;
}

inline bool bit_equal(const sd::Tensor& a, const sd::Tensor& b) {
  return a.shape() == b.shape() && std::memcmp(a.data(), b.data(), size_t(a.nbytes())) == 0;
}

inline double rel_err(const sd::Tensor& got, const std::vector<double>& ref) {
  double num = 0, den = 0;
  const float* g = got.data_as<float>();
  for (size_t i = 0; i < ref.size(); ++i) {
    num += (g[i] - ref[i]) * (g[i] - ref[i]);
    den += ref[i] * ref[i];
  }
  return den == 0 ? std::sqrt(num) : std::sqrt(num / den);
}

// Direct convolution in double: x [B, C, H, W], w32 [O, C, k, k] (f32), bias
// [O] or nullptr, stride s, padding top/left/bottom/right -> [B, O, Ho, Wo].
inline std::vector<double> direct_conv(const sd::Tensor& x, const sd::Tensor& w32, const sd::Tensor* b, int s, int pt, int pl, int pb,
                                       int pr) {
  const int64_t B = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3), O = w32.size(0), k = w32.size(2);
  const int64_t Ho = (H + pt + pb - k) / s + 1, Wo = (W + pl + pr - k) / s + 1;
  std::vector<double> y(size_t(B * O * Ho * Wo));
  const float* xp = x.data_as<float>();
  const float* wp = w32.data_as<float>();
  for (int64_t n = 0; n < B; ++n)
    for (int64_t o = 0; o < O; ++o)
      for (int64_t oy = 0; oy < Ho; ++oy)
        for (int64_t ox = 0; ox < Wo; ++ox) {
          double acc = b ? b->data_as<float>()[o] : 0.0;
          for (int64_t c = 0; c < C; ++c)
            for (int64_t ky = 0; ky < k; ++ky)
              for (int64_t kx = 0; kx < k; ++kx) {
                const int64_t iy = oy * s - pt + ky, ix = ox * s - pl + kx;
                if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                acc += double(xp[((n * C + c) * H + iy) * W + ix]) * wp[((o * C + c) * k + ky) * k + kx];
              }
          y[size_t(((n * O + o) * Ho + oy) * Wo + ox)] = acc;
        }
  return y;
}

}  // namespace ktest
