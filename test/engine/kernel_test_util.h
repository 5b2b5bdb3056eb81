// Shared helpers for the kernel/op tests: deterministic random tensors, f16 /
// bf16 weight copies, the SD_NATIVE_CPU skip rule, and bitwise comparison.
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

}  // namespace ktest
