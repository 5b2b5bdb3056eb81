// The denoiser the samplers call: wraps the pipeline's model function with
// the input scaling, classifier-free guidance and the prediction type, and
// returns the k-diffusion denoised estimate D(x, sigma) ~ x0.
#pragma once
#include <functional>
#include <string>

#include "sampling/schedules.h"
#include "tensor/tensor.h"

namespace sd {

enum class Prediction { Epsilon, V };
Prediction parse_prediction(const std::string& name);  // "epsilon" | "v" | "v_prediction"

// The model as the pipeline runs it, ONE call per denoiser evaluation.
//   x_in: [R, C, H, W] f32, the scaled input x / sqrt(sigma^2 + 1).
//     With guidance (cfg_scale != 1) R = 2B: rows [0, B) unconditional,
//     rows [B, 2B) conditional (diffusers' cat([latents] * 2) with
//     cat([negative_embeds, prompt_embeds])). Without guidance R = B,
//     conditional only (the negative pass is skipped).
//   t: the model timestep for this noise level.
//   out: [R, C, H, W] f32, preallocated: the raw model output (eps or v).
using ModelFn = std::function<void(const Tensor& x_in, float t, Tensor& out)>;

// Classifier-free guidance only above 1, as diffusers: at 1 or below (the
// turbo models' 0) the conditional pass runs alone.
inline bool guidance_applies(float cfg_scale) { return cfg_scale > 1.0f; }

class Denoiser {
 public:
  // `schedule` is referenced, not copied: it must outlive the Denoiser.
  Denoiser(ModelFn model, const ModelSchedule& schedule, Prediction prediction, float cfg_scale);

  // x: [B, C, H, W] k-diffusion latent (x0 + sigma * noise); writes D(x) to
  // `denoised` (same shape, preallocated). t is the model timestep of sigma.
  void operator()(const Tensor& x, float sigma, float t, Tensor& denoised);
  // For noise levels between schedule entries: t = sigma_to_t(sigma).
  void operator()(const Tensor& x, float sigma, Tensor& denoised);

  const ModelSchedule& schedule() const { return schedule_; }
  bool guided() const { return guidance_applies(cfg_scale_); }

 private:
  ModelFn model_;
  const ModelSchedule& schedule_;
  Prediction prediction_;
  float cfg_scale_;
  Tensor x_in_;  // [R, C, H, W]
  Tensor out_;   // [R, C, H, W]
};

}  // namespace sd
