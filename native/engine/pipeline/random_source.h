// Where a generation's random numbers come from. run_generate() uses a
// PyTorch-compatible CPU generator seeded with the call's seed; tests replay
// the exact tensors the reference drew. Every draw names its purpose, in the
// order diffusers makes them.
#pragma once
#include <cstdint>

#include "sampling/rng_torch.h"
#include "tensor/tensor.h"

namespace sd {

enum class DrawPurpose {
  InitialNoise,  // the starting latents' unit noise ([B, L, h, w])
  VaePosterior,  // a VAE encoder's posterior sample (img2img / inpainting)
  SamplerNoise,  // a stochastic sampler's per-step noise
};

class RandomSource {
 public:
  virtual ~RandomSource() = default;
  // Fills `out` (preallocated f32) with N(0, 1) values.
  virtual void randn(Tensor& out, DrawPurpose purpose) = 0;
};

// torch.randn(shape, generator=torch.Generator("cpu").manual_seed(seed)), draw after draw.
class TorchRandomSource : public RandomSource {
 public:
  explicit TorchRandomSource(uint64_t seed) : gen_(seed) {}
  void randn(Tensor& out, DrawPurpose) override { gen_.randn(out.data_as<float>(), out.numel()); }

 private:
  TorchGenerator gen_;
};

}  // namespace sd
