// Samplers: every one is ONE function with the same signature (as
// k-diffusion's sampling.py): the denoiser, the latent x (k-diffusion form
// x0 + sigma * noise, updated in place), the schedule, a per-call noise
// source and a step callback. Variance-preserving schedulers of diffusers
// (DDIM, PNDM, DPM-Solver++, UniPC, LCM, TCD) are written in the same
// variables; their VP latent is x / sqrt(sigma^2 + 1).
#pragma once
#include <functional>
#include <string>

#include "sampling/denoiser.h"
#include "sampling/schedules.h"
#include "tensor/tensor.h"

namespace sd {

// Reported after every denoiser evaluation.
struct StepInfo {
  int call;        // denoiser evaluation index, 0-based
  int step;        // interval being integrated: sigmas[step] -> sigmas[step + 1]
  int steps;       // number of intervals (schedule.steps())
  bool step_done;  // true on the last evaluation of the interval (x is at sigmas[step + 1])
  float sigma;     // noise level of x now
  // [B, C, H, W] current latent, k-diffusion form. When step_done the callback
  // may modify it in place (inpainting's masked blend, as diffusers does between
  // scheduler steps); the sampler continues from the modified latent.
  Tensor& x;
  const Tensor& denoised;  // [B, C, H, W] the latest x0 estimate
};

// Return false to stop: the sampler then throws sd::Error(Aborted).
using StepCallback = std::function<bool(const StepInfo&)>;
// Fills `out` ([B, C, H, W], preallocated) with fresh N(0,1) noise; called only
// by stochastic samplers, in the order diffusers draws (see docs/sampling.md).
using NoiseFn = std::function<void(Tensor& out)>;

using SamplerFn = void (*)(Denoiser& model, Tensor& x, const Schedule& sched, const NoiseFn& noise, const StepCallback& cb);

void sample_euler(Denoiser&, Tensor&, const Schedule&, const NoiseFn&, const StepCallback&);
void sample_euler_a(Denoiser&, Tensor&, const Schedule&, const NoiseFn&, const StepCallback&);
void sample_heun(Denoiser&, Tensor&, const Schedule&, const NoiseFn&, const StepCallback&);
void sample_dpm2(Denoiser&, Tensor&, const Schedule&, const NoiseFn&, const StepCallback&);
void sample_dpmpp_2m(Denoiser&, Tensor&, const Schedule&, const NoiseFn&, const StepCallback&);
void sample_dpmpp_2s_a(Denoiser&, Tensor&, const Schedule&, const NoiseFn&, const StepCallback&);
void sample_dpmpp_2m_sde(Denoiser&, Tensor&, const Schedule&, const NoiseFn&, const StepCallback&);
void sample_lms(Denoiser&, Tensor&, const Schedule&, const NoiseFn&, const StepCallback&);
void sample_ddim(Denoiser&, Tensor&, const Schedule&, const NoiseFn&, const StepCallback&);
void sample_pndm(Denoiser&, Tensor&, const Schedule&, const NoiseFn&, const StepCallback&);
void sample_lcm(Denoiser&, Tensor&, const Schedule&, const NoiseFn&, const StepCallback&);
void sample_unipc(Denoiser&, Tensor&, const Schedule&, const NoiseFn&, const StepCallback&);
void sample_ipndm(Denoiser&, Tensor&, const Schedule&, const NoiseFn&, const StepCallback&);
void sample_tcd(Denoiser&, Tensor&, const Schedule&, const NoiseFn&, const StepCallback&);

// LMS: integral over [sigmas[i], sigmas[i+1]] of the Lagrange basis
// polynomial of node sigmas[i - j] on nodes sigmas[i - order + 1 .. i]
// (exact polynomial integration).
double lms_coefficient(const std::vector<float>& sigmas, int i, int order, int j);

}  // namespace sd
