#include "sampling/rng_torch.h"

#include <cmath>

#include "core/error.h"

namespace sd {

namespace {
constexpr int kN = 624;
constexpr int kM = 397;
constexpr uint32_t kMatrixA = 0x9908b0dfu;
constexpr uint32_t kUpper = 0x80000000u;
constexpr uint32_t kLower = 0x7fffffffu;
constexpr double kPi = 3.14159265358979323846;

// torch's uniform_real_distribution<float>(0, 1): 24 random bits / 2^24.
inline float uniform_float(uint32_t bits) { return float(bits & ((1u << 24) - 1)) * (1.0f / float(1u << 24)); }
// torch's uniform_real_distribution<double>(0, 1): 53 random bits / 2^53.
inline double uniform_double(uint64_t bits) { return double(bits & ((uint64_t(1) << 53) - 1)) * (1.0 / double(uint64_t(1) << 53)); }
}  // namespace

TorchGenerator::TorchGenerator(uint64_t seed) {
  state_[0] = uint32_t(seed & 0xffffffffu);
  for (int j = 1; j < kN; ++j) state_[j] = 1812433253u * (state_[j - 1] ^ (state_[j - 1] >> 30)) + uint32_t(j);
  index_ = kN;
}

uint32_t TorchGenerator::next_u32() {
  if (index_ >= kN) {  // regenerate the whole block (MT19937 "twist")
    for (int k = 0; k < kN; ++k) {
      uint32_t y = (state_[k] & kUpper) | (state_[(k + 1) % kN] & kLower);
      state_[k] = state_[(k + kM) % kN] ^ (y >> 1) ^ ((y & 1u) ? kMatrixA : 0u);
    }
    index_ = 0;
  }
  uint32_t y = state_[index_++];
  y ^= y >> 11;  // tempering
  y ^= (y << 7) & 0x9d2c5680u;
  y ^= (y << 15) & 0xefc60000u;
  y ^= y >> 18;
  return y;
}

uint64_t TorchGenerator::next_u64() {
  uint64_t hi = next_u32();
  uint64_t lo = next_u32();
  return (hi << 32) | lo;
}

// torch's normal_distribution<double>: Box-Muller on two double uniforms,
// the sine branch kept for the next call.
double TorchGenerator::normal_double() {
  if (has_cached_normal_) {
    has_cached_normal_ = false;
    return cached_normal_;
  }
  double u1 = uniform_double(next_u64());
  double u2 = uniform_double(next_u64());
  double r = std::sqrt(-2.0 * std::log1p(-u2));
  double theta = 2.0 * kPi * u1;
  cached_normal_ = r * std::sin(theta);
  has_cached_normal_ = true;
  return r * std::cos(theta);
}

// torch's normal_fill for contiguous float tensors of >= 16 elements: all
// uniforms first, then Box-Muller within each chunk of 16 (u1 = 1 - data[j],
// u2 = data[j + 8]); a ragged tail redraws 16 fresh uniforms for the LAST 16
// elements and transforms them again.
void TorchGenerator::randn_vectorised(float* out, int64_t n) {
  auto fill16 = [](float* d) {
    for (int j = 0; j < 8; ++j) {
      float u1 = 1.0f - d[j];
      float u2 = d[j + 8];
      float radius = std::sqrt(-2.0f * std::log(u1));
      float theta = float(2.0 * kPi) * u2;  // float product, as torch's AVX2 path
      d[j] = radius * std::cos(theta);
      d[j + 8] = radius * std::sin(theta);
    }
  };
  for (int64_t i = 0; i < n; ++i) out[i] = uniform_float(next_u32());
  for (int64_t i = 0; i + 16 <= n; i += 16) fill16(out + i);
  if (n % 16 != 0) {
    float* tail = out + n - 16;
    for (int j = 0; j < 16; ++j) tail[j] = uniform_float(next_u32());
    fill16(tail);
  }
}

void TorchGenerator::randn(float* out, int64_t n) {
  if (n < 0) fail(ErrorCode::InvalidOption, "randn: negative element count");
  if (n >= 16) {
    randn_vectorised(out, n);
    return;
  }
  for (int64_t i = 0; i < n; ++i) out[i] = float(normal_double());
}

std::vector<float> TorchGenerator::randn(int64_t n) {
  if (n < 0) fail(ErrorCode::InvalidOption, "randn: negative element count");
  std::vector<float> v(static_cast<size_t>(n));
  randn(v.data(), n);
  return v;
}

}  // namespace sd
