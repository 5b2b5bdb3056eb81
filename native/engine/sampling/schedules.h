// Noise schedules: pure functions from (steps, the model's training schedule)
// to the noise levels a sampler walks through. Everything is in k-diffusion
// terms (Karras et al. 2022): a latent at noise level sigma is
// x = x0 + sigma * noise; the variance-preserving latent of DDPM-style
// schedulers is x / sqrt(sigma^2 + 1).
#pragma once
#include <string>
#include <vector>

namespace sd {

// The training (DDPM) schedule: betas -> alphas_cumprod -> sigmas, float32 as
// the reference computes them.
struct ModelSchedule {
  std::vector<float> betas;           // [T]
  std::vector<float> alphas_cumprod;  // [T] cumprod(1 - betas)
  std::vector<float> sigmas;          // [T] sqrt((1 - ac) / ac), ascending in t

  // diffusers "scaled_linear": betas = linspace(sqrt(b0), sqrt(b1), T)^2 (float32).
  static ModelSchedule scaled_linear(double beta_start = 0.00085, double beta_end = 0.012, int num_train_timesteps = 1000);
  // diffusers "linear": betas = linspace(b0, b1, T) (float32).
  static ModelSchedule linear(double beta_start, double beta_end, int num_train_timesteps);
  // alphas_cumprod and sigmas from the betas ([T], T >= 2, each in (0, 1)).
  static ModelSchedule from_betas(std::vector<float> betas);
  // Zero terminal SNR (Lin et al. 2024, "Common Diffusion Noise Schedules and
  // Sample Steps are Flawed", Algorithm 1): sqrt(alphas_cumprod) shifted so
  // its last value is 0 and scaled so its first is unchanged. The last
  // alphas_cumprod then becomes 2^-24 instead of 0, as diffusers' samplers
  // set it, so sigma_max is ~4096, not infinite (float32 as torch computes).
  ModelSchedule zero_terminal_snr() const;

  int num_train_timesteps() const { return static_cast<int>(sigmas.size()); }
  double sigma_min() const { return sigmas.front(); }
  double sigma_max() const { return sigmas.back(); }
  // sigma at a (fractional) timestep, linear in sigma (numpy interp), clamped.
  double t_to_sigma(double t) const;
  // sigma at a (fractional) timestep, linear in log(sigma), clamped.
  double t_to_sigma_log(double t) const;
  // Fractional timestep of a sigma, linear in log(sigma) (diffusers _sigma_to_t), clamped.
  double sigma_to_t(double sigma) const;
};

enum class ScheduleKind { Discrete, Karras, Exponential, SgmUniform, Simple, Ays };
// "ays": the Align-Your-Steps lists published for each model family.
enum class AysFamily { Sd1, Sdxl };

// How `discrete` places its timesteps (diffusers timestep_spacing).
enum class Spacing {
  Linspace,          // t = linspace(0, T-1, N) descending, fractional (Euler family)
  LinspaceRounded,   // t = round(linspace(0, T-1, N+1)) descending, first N (DPM-Solver, UniPC)
  Leading,           // t = arange(N) * (T / N) + steps_offset, descending (DDIM, PNDM, SDXL)
  LeadingMultistep,  // t = arange(N+1) * (T / (N+1)) descending, first N, + steps_offset (DPM-Solver/UniPC "leading")
  Trailing,          // t = round(arange(T, 0, -T/N)) - 1
  Lcm,               // LCM: N of the `lcm_original_steps` skipping-step timesteps
};

struct ScheduleOptions {
  ScheduleKind kind = ScheduleKind::Discrete;
  Spacing spacing = Spacing::Linspace;
  int steps_offset = 1;            // Leading spacing
  int lcm_original_steps = 50;     // Lcm spacing
  bool integer_timesteps = false;  // round derived timesteps (DPM-Solver, UniPC, DDIM, ...)
  // DDIM/PNDM with set_alpha_to_one=False: the discrete schedule ends at
  // sigma_train(0) instead of 0.
  bool final_sigma_min = false;
  AysFamily ays = AysFamily::Sd1;
  // karras/exponential: take sigma_max/sigma_min from the discrete schedule of
  // `spacing` (diffusers' Euler/Heun/LMS do; with "leading" that is
  // sigma(876)..sigma(1) for 8 steps) instead of the training range.
  bool range_from_spacing = false;
};

struct Schedule {
  std::vector<float> sigmas;     // [steps + 1] descending; the last one is the final level (usually 0)
  std::vector<float> timesteps;  // [steps] model timestep evaluated at sigmas[i]
  int steps() const { return static_cast<int>(timesteps.size()); }
};

// Throws ERR_INVALID_OPTION for unknown names.
ScheduleKind parse_schedule_kind(const std::string& name);  // discrete|karras|exponential|sgm_uniform|simple|ays

// steps >= 1; throws ERR_INVALID_OPTION otherwise.
Schedule make_schedule(const ModelSchedule& model, int steps, const ScheduleOptions& opt);

// A caller's sigma list (descending, >= 2 entries, finite, >= 0); timesteps
// derived with sigma_to_t (rounded when integer_timesteps).
Schedule custom_schedule(const ModelSchedule& model, const std::vector<float>& sigmas, bool integer_timesteps);

// img2img: keep the last min(int(N * strength), N) steps, as diffusers'
// get_timesteps does. The returned schedule starts at the level the init
// latents are noised to (sigmas[0]). Throws ERR_INVALID_OPTION when no step
// remains or strength is outside (0, 1].
Schedule truncate_for_strength(const Schedule& full, double strength);

// The published Align-Your-Steps 10-step lists (11 levels, NVIDIA 2024).
const std::vector<double>& ays_sigmas(AysFamily family);

}  // namespace sd
