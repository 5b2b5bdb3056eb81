// PyTorch-compatible CPU random numbers: the same N(0,1) float32 values as
// torch.randn(shape, generator=torch.Generator("cpu").manual_seed(seed)),
// so a seed gives the same initial latents (and per-step sampler noise) as a
// diffusers pipeline run on CPU. Our own code: MT19937 (Matsumoto & Nishimura
// 1998) plus torch's documented uniform->normal transforms.
#pragma once
#include <cstdint>
#include <vector>

namespace sd {

class TorchGenerator {
 public:
  // torch's manual_seed: the Mersenne Twister is seeded with the low 32 bits
  // (torch.Generator.manual_seed accepts any 64-bit value).
  explicit TorchGenerator(uint64_t seed);

  uint32_t next_u32();  // one MT19937 output (torch's generator->random())
  uint64_t next_u64();  // two outputs, first one in the high half (random64())

  // Fills out[0..n) like torch.randn of n float32 elements, advancing the
  // generator as torch does. n >= 16 uses torch's chunked Box-Muller over
  // float uniforms; n < 16 uses the double-precision per-element path, which
  // caches its second value inside the generator (as torch does).
  void randn(float* out, int64_t n);
  std::vector<float> randn(int64_t n);

 private:
  void randn_vectorised(float* out, int64_t n);
  double normal_double();

  uint32_t state_[624];
  int index_ = 624;
  bool has_cached_normal_ = false;
  double cached_normal_ = 0;
};

}  // namespace sd
