#include "sampling/samplers.h"

#include <algorithm>
#include <cmath>
#include <deque>
#include <string>
#include <vector>

#include "core/error.h"

namespace sd {

namespace {

// Every tensor and buffer in this file has the latent's shape [B, C, H, W]
// (std::vector<float> buffers hold it flattened): d = denoised x0, z = unit
// noise, x2 = an intermediate latent, deriv/der = dx/dsigma = (x - d) / sigma,
// eps = the same quantity in DDPM terms.

// Shared bookkeeping: validation, scratch tensors, denoiser calls, reporting.
class Run {
 public:
  Run(Denoiser& model, Tensor& x, const Schedule& sched, const StepCallback& cb)
      : model(model), x(x), sched(sched), n(int64_t(x.numel())), steps(sched.steps()), cb_(cb) {
    if (x.dim() != 4 || x.dtype() != DType::F32 || !x.is_contiguous())
      fail(ErrorCode::Internal, "sampler: x must be contiguous f32 [B, C, H, W]");
    if (steps < 1 || sched.sigmas.size() != size_t(steps) + 1)
      fail(ErrorCode::InvalidOption, "sampler: schedule needs steps >= 1 and steps + 1 sigmas");
    for (int i = 0; i < steps; ++i)
      if (!(sched.sigmas[i] > 0)) fail(ErrorCode::InvalidOption, "sampler: every sigma but the last must be > 0");
  }

  Tensor scratch() const { return Tensor::empty(DType::F32, x.shape()); }
  float sigma(int i) const { return sched.sigmas[i]; }
  // D(at, sigmas[i]) at the schedule's timestep; the final level (i == steps,
  // nonzero only for custom lists) has none, so its t comes from sigma_to_t.
  void denoise(const Tensor& at, int i, Tensor& out) {
    if (i < steps)
      model(at, sched.sigmas[i], sched.timesteps[i], out);
    else
      model(at, sched.sigmas[i], out);
  }

  // After every denoiser call: refuse non-finite latents, then ask the callback.
  void report(int step, bool done, float level, Tensor& at, const Tensor& denoised) {
    const float* p = at.data_as<float>();
    for (int64_t e = 0; e < n; ++e)
      if (!std::isfinite(p[e]))
        fail(ErrorCode::Numerical, "sampling produced NaN/Inf at step " + std::to_string(step + 1) + " (sigma " + std::to_string(level) +
                                       "): the model output is not finite");
    StepInfo info{call_++, step, steps, done, level, at, denoised};
    if (cb_ && !cb_(info)) fail(ErrorCode::Aborted, "the generation was aborted");
  }

  Denoiser& model;
  Tensor& x;  // [B, C, H, W]
  const Schedule& sched;
  const int64_t n;  // elements of x
  const int steps;

 private:
  const StepCallback& cb_;
  int call_ = 0;
};

inline float* F(const Tensor& t) { return t.data_as<float>(); }

// k-diffusion ancestral step split (eta = 1): sigma_up is the fresh noise,
// sigma_down the deterministic target level.
void ancestral_split(float s, float s_next, float* down, float* up) {
  float u = std::sqrt(s_next * s_next * (s * s - s_next * s_next) / (s * s));
  *up = std::min(s_next, u);
  *down = std::sqrt(s_next * s_next - *up * *up);
}

// Adams-Bashforth combination of the newest-last history (1..4 entries).
void adams_bashforth(const std::deque<std::vector<float>>& h, int64_t n, std::vector<float>& out) {
  static const double c[4][4] = {
      {1, 0, 0, 0}, {1.5, -0.5, 0, 0}, {23 / 12.0, -16 / 12.0, 5 / 12.0, 0}, {55 / 24.0, -59 / 24.0, 37 / 24.0, -9 / 24.0}};
  const int k = int(h.size());
  out.assign(size_t(n), 0.0f);
  for (int j = 0; j < k; ++j) {
    const float w = float(c[k - 1][j]);
    const std::vector<float>& v = h[size_t(k - 1 - j)];  // j = 0 newest
    for (int64_t e = 0; e < n; ++e) out[e] += w * v[e];
  }
}

}  // namespace

// Euler method on the probability-flow ODE dx/dsigma = (x - D)/sigma (Karras et al. 2022, Alg. 1 without churn).
void sample_euler(Denoiser& model, Tensor& x, const Schedule& sched, const NoiseFn&, const StepCallback& cb) {
  Run r(model, x, sched, cb);
  Tensor d = r.scratch();
  float *xp = F(x), *dp = F(d);
  for (int i = 0; i < r.steps; ++i) {
    r.denoise(x, i, d);
    const float s = r.sigma(i), dt = r.sigma(i + 1) - s;
    for (int64_t e = 0; e < r.n; ++e) xp[e] += (xp[e] - dp[e]) / s * dt;
    r.report(i, true, r.sigma(i + 1), x, d);
  }
}

// Euler ancestral (k-diffusion sample_euler_ancestral, eta 1); draws noise on every step, the last included, as diffusers.
void sample_euler_a(Denoiser& model, Tensor& x, const Schedule& sched, const NoiseFn& noise, const StepCallback& cb) {
  Run r(model, x, sched, cb);
  Tensor d = r.scratch(), z = r.scratch();
  float *xp = F(x), *dp = F(d), *zp = F(z);
  for (int i = 0; i < r.steps; ++i) {
    r.denoise(x, i, d);
    const float s = r.sigma(i);
    float down, up;
    ancestral_split(s, r.sigma(i + 1), &down, &up);
    noise(z);
    for (int64_t e = 0; e < r.n; ++e) xp[e] += (xp[e] - dp[e]) / s * (down - s) + zp[e] * up;
    r.report(i, true, r.sigma(i + 1), x, d);
  }
}

// Heun's 2nd-order method (Karras et al. 2022, Alg. 1); the final step to sigma 0 is Euler.
void sample_heun(Denoiser& model, Tensor& x, const Schedule& sched, const NoiseFn&, const StepCallback& cb) {
  Run r(model, x, sched, cb);
  Tensor d = r.scratch(), x2 = r.scratch();
  std::vector<float> deriv(static_cast<size_t>(r.n));
  float *xp = F(x), *dp = F(d), *x2p = F(x2);
  for (int i = 0; i < r.steps; ++i) {
    const float s = r.sigma(i), s_next = r.sigma(i + 1), dt = s_next - s;
    r.denoise(x, i, d);
    for (int64_t e = 0; e < r.n; ++e) deriv[e] = (xp[e] - dp[e]) / s;
    if (s_next == 0) {
      for (int64_t e = 0; e < r.n; ++e) xp[e] += deriv[e] * dt;
      r.report(i, true, s_next, x, d);
      continue;
    }
    for (int64_t e = 0; e < r.n; ++e) x2p[e] = xp[e] + deriv[e] * dt;
    r.report(i, false, s_next, x2, d);
    r.denoise(x2, i + 1, d);
    for (int64_t e = 0; e < r.n; ++e) xp[e] += 0.5f * (deriv[e] + (x2p[e] - dp[e]) / s_next) * dt;
    r.report(i, true, s_next, x, d);
  }
}

// DPM-Solver-2 in Karras' form (k-diffusion sample_dpm_2): midpoint at the geometric mean of sigma, sigma_next.
void sample_dpm2(Denoiser& model, Tensor& x, const Schedule& sched, const NoiseFn&, const StepCallback& cb) {
  Run r(model, x, sched, cb);
  Tensor d = r.scratch(), x2 = r.scratch();
  float *xp = F(x), *dp = F(d), *x2p = F(x2);
  for (int i = 0; i < r.steps; ++i) {
    const float s = r.sigma(i), s_next = r.sigma(i + 1);
    r.denoise(x, i, d);
    if (s_next == 0) {
      for (int64_t e = 0; e < r.n; ++e) xp[e] += (xp[e] - dp[e]) / s * (s_next - s);
      r.report(i, true, s_next, x, d);
      continue;
    }
    const float s_mid = float(std::exp(0.5 * (std::log(double(s)) + std::log(double(s_next)))));
    for (int64_t e = 0; e < r.n; ++e) x2p[e] = xp[e] + (xp[e] - dp[e]) / s * (s_mid - s);
    r.report(i, false, s_mid, x2, d);
    model(x2, s_mid, d);
    for (int64_t e = 0; e < r.n; ++e) xp[e] += (x2p[e] - dp[e]) / s_mid * (s_next - s);
    r.report(i, true, s_next, x, d);
  }
}

// DPM-Solver++(2M) (Lu et al. 2022, Alg. 2, midpoint form); first step and the step to sigma 0 are first order.
void sample_dpmpp_2m(Denoiser& model, Tensor& x, const Schedule& sched, const NoiseFn&, const StepCallback& cb) {
  Run r(model, x, sched, cb);
  Tensor d = r.scratch();
  std::vector<float> old(static_cast<size_t>(r.n));
  float *xp = F(x), *dp = F(d);
  double h_last = 0;
  for (int i = 0; i < r.steps; ++i) {
    const double s = r.sigma(i), s_next = r.sigma(i + 1);
    r.denoise(x, i, d);
    if (s_next == 0) {
      for (int64_t e = 0; e < r.n; ++e) xp[e] = dp[e];
    } else {
      const double h = std::log(s / s_next);  // lambda = -log(sigma)
      const float ratio = float(s_next / s), phi = float(-std::expm1(-h));
      if (i == 0 || h_last == 0) {  // first step, or after a repeated level (round(linspace) at 1000 steps)
        for (int64_t e = 0; e < r.n; ++e) xp[e] = ratio * xp[e] + phi * dp[e];
      } else {
        const float k = float(0.5 * h / h_last);  // 1 / (2 r), r = h_last / h
        for (int64_t e = 0; e < r.n; ++e) xp[e] = ratio * xp[e] + phi * ((1 + k) * dp[e] - k * old[e]);
      }
      h_last = h;
    }
    std::copy(dp, dp + r.n, old.begin());
    r.report(i, true, float(s_next), x, d);
  }
}

// DPM-Solver++(2S) ancestral (Lu et al. 2022; k-diffusion sample_dpmpp_2s_ancestral, eta 1, r = 1/2).
void sample_dpmpp_2s_a(Denoiser& model, Tensor& x, const Schedule& sched, const NoiseFn& noise, const StepCallback& cb) {
  Run r(model, x, sched, cb);
  Tensor d = r.scratch(), x2 = r.scratch(), z = r.scratch();
  float *xp = F(x), *dp = F(d), *x2p = F(x2), *zp = F(z);
  for (int i = 0; i < r.steps; ++i) {
    const float s = r.sigma(i), s_next = r.sigma(i + 1);
    float down, up;
    ancestral_split(s, s_next, &down, &up);
    r.denoise(x, i, d);
    if (down == 0) {
      for (int64_t e = 0; e < r.n; ++e) xp[e] += (xp[e] - dp[e]) / s * (down - s);
    } else {
      const double h = std::log(double(s) / double(down));
      const float s_mid = float(double(s) * std::exp(-0.5 * h));
      const float a1 = s_mid / s, b1 = float(-std::expm1(-0.5 * h));
      for (int64_t e = 0; e < r.n; ++e) x2p[e] = a1 * xp[e] + b1 * dp[e];
      r.report(i, false, s_mid, x2, d);
      model(x2, s_mid, d);
      const float a2 = down / s, b2 = float(-std::expm1(-h));
      for (int64_t e = 0; e < r.n; ++e) xp[e] = a2 * xp[e] + b2 * dp[e];
    }
    if (s_next > 0) {
      noise(z);
      for (int64_t e = 0; e < r.n; ++e) xp[e] += zp[e] * up;
    }
    r.report(i, true, s_next, x, d);
  }
}

// DPM-Solver++(2M) SDE (Lu et al. 2022; diffusers sde-dpmsolver++ midpoint, eta 1); noise drawn every step as diffusers.
void sample_dpmpp_2m_sde(Denoiser& model, Tensor& x, const Schedule& sched, const NoiseFn& noise, const StepCallback& cb) {
  Run r(model, x, sched, cb);
  Tensor d = r.scratch(), z = r.scratch();
  std::vector<float> old(static_cast<size_t>(r.n));
  float *xp = F(x), *dp = F(d), *zp = F(z);
  double h_last = 0;
  for (int i = 0; i < r.steps; ++i) {
    const double s = r.sigma(i), s_next = r.sigma(i + 1);
    r.denoise(x, i, d);
    noise(z);
    if (s_next == 0) {
      for (int64_t e = 0; e < r.n; ++e) xp[e] = dp[e];
    } else {
      const double h = std::log(s / s_next);
      const float a = float(s_next / s * std::exp(-h)), b = float(-std::expm1(-2 * h));
      const float c = float(s_next * std::sqrt(-std::expm1(-2 * h)));
      const float k = i == 0 || h_last == 0 ? 0.0f : float(0.5 * h / h_last);  // 0.5 / r; first order after a repeated level
      for (int64_t e = 0; e < r.n; ++e) xp[e] = a * xp[e] + b * (dp[e] + k * (dp[e] - old[e])) + c * zp[e];
      h_last = h;
    }
    std::copy(dp, dp + r.n, old.begin());
    r.report(i, true, float(s_next), x, d);
  }
}

double lms_coefficient(const std::vector<float>& sigmas, int i, int order, int j) {
  // Lagrange basis prod_{k != j} (tau - s_{i-k}) / (s_{i-j} - s_{i-k}) as polynomial coefficients (ascending).
  std::vector<double> poly = {1.0};
  for (int k = 0; k < order; ++k) {
    if (k == j) continue;
    const double node = sigmas[i - k], den = double(sigmas[i - j]) - node;
    std::vector<double> next(poly.size() + 1, 0.0);
    for (size_t p = 0; p < poly.size(); ++p) {
      next[p + 1] += poly[p] / den;
      next[p] -= poly[p] * node / den;
    }
    poly = next;
  }
  const double a = sigmas[i], b = sigmas[i + 1];
  double integral = 0;
  for (size_t p = 0; p < poly.size(); ++p) integral += poly[p] * (std::pow(b, p + 1) - std::pow(a, p + 1)) / double(p + 1);
  return integral;
}

// Linear multistep (order 4) on dx/dsigma with Lagrange-interpolated derivatives (k-diffusion sample_lms).
void sample_lms(Denoiser& model, Tensor& x, const Schedule& sched, const NoiseFn&, const StepCallback& cb) {
  Run r(model, x, sched, cb);
  Tensor d = r.scratch();
  std::deque<std::vector<float>> derivs;  // newest last
  float *xp = F(x), *dp = F(d);
  for (int i = 0; i < r.steps; ++i) {
    r.denoise(x, i, d);
    const float s = r.sigma(i);
    std::vector<float> der(static_cast<size_t>(r.n));
    for (int64_t e = 0; e < r.n; ++e) der[e] = (xp[e] - dp[e]) / s;
    derivs.push_back(std::move(der));
    if (derivs.size() > 4) derivs.pop_front();
    const int order = int(derivs.size());
    for (int j = 0; j < order; ++j) {
      const float c = float(lms_coefficient(sched.sigmas, i, order, j));
      const std::vector<float>& v = derivs[size_t(order - 1 - j)];
      for (int64_t e = 0; e < r.n; ++e) xp[e] += c * v[e];
    }
    r.report(i, true, r.sigma(i + 1), x, d);
  }
}

// DDIM, eta 0 (Song et al. 2021): x_next = x0 + sigma_next * eps, in k-diffusion variables.
void sample_ddim(Denoiser& model, Tensor& x, const Schedule& sched, const NoiseFn&, const StepCallback& cb) {
  Run r(model, x, sched, cb);
  Tensor d = r.scratch();
  float *xp = F(x), *dp = F(d);
  for (int i = 0; i < r.steps; ++i) {
    r.denoise(x, i, d);
    const float s = r.sigma(i), s_next = r.sigma(i + 1);
    for (int64_t e = 0; e < r.n; ++e) xp[e] = dp[e] + s_next * ((xp[e] - dp[e]) / s);
    r.report(i, true, s_next, x, d);
  }
}

// PNDM's pseudo linear multistep (PLMS, Liu et al. 2022) with the DDIM transfer; the first step is a
// 2nd-order (trapezoid) step, so N steps take N+1 model calls, like diffusers' skip_prk_steps.
void sample_pndm(Denoiser& model, Tensor& x, const Schedule& sched, const NoiseFn&, const StepCallback& cb) {
  Run r(model, x, sched, cb);
  Tensor d = r.scratch();
  float *xp = F(x), *dp = F(d);
  std::deque<std::vector<float>> eps;  // newest last, at most 4
  std::vector<float> cur(static_cast<size_t>(r.n)), combo;
  auto eps_of = [&](float s) {
    std::vector<float> v(static_cast<size_t>(r.n));
    for (int64_t e = 0; e < r.n; ++e) v[e] = (xp[e] - dp[e]) / s;
    return v;
  };
  for (int i = 0; i < r.steps; ++i) {
    const float s = r.sigma(i), s_next = r.sigma(i + 1);
    r.denoise(x, i, d);
    eps.push_back(eps_of(s));
    if (eps.size() > 4) eps.pop_front();
    if (i == 0 && r.steps > 1) {
      // predictor to sigma_next with e0, then evaluate there and step again with (e0 + e1) / 2
      std::copy(xp, xp + r.n, cur.begin());
      for (int64_t e = 0; e < r.n; ++e) xp[e] += (s_next - s) * eps.back()[e];
      r.report(i, false, s_next, x, d);
      r.denoise(x, i + 1, d);
      std::vector<float> e1 = eps_of(s_next);
      for (int64_t e = 0; e < r.n; ++e) xp[e] = cur[e] + (s_next - s) * 0.5f * (eps.back()[e] + e1[e]);
      r.report(i, true, s_next, x, d);
      continue;
    }
    adams_bashforth(eps, r.n, combo);
    for (int64_t e = 0; e < r.n; ++e) xp[e] += (s_next - s) * combo[e];
    r.report(i, true, s_next, x, d);
  }
}

// Latent Consistency Model multistep sampling (Luo et al. 2023): consistency boundary condition with
// sigma_data 0.5 and timestep_scaling 10, fresh noise after every step but the last.
void sample_lcm(Denoiser& model, Tensor& x, const Schedule& sched, const NoiseFn& noise, const StepCallback& cb) {
  Run r(model, x, sched, cb);
  Tensor d = r.scratch(), z = r.scratch();
  float *xp = F(x), *dp = F(d), *zp = F(z);
  for (int i = 0; i < r.steps; ++i) {
    const float s = r.sigma(i), s_next = r.sigma(i + 1);
    r.denoise(x, i, d);
    const double st = 10.0 * sched.timesteps[i], sd2 = 0.25;  // scaled timestep, sigma_data^2
    const float c_skip = float(sd2 / (st * st + sd2)), c_out = float(st / std::sqrt(st * st + sd2));
    const float c_in = 1.0f / std::sqrt(s * s + 1.0f);  // c_skip acts on the VP latent
    for (int64_t e = 0; e < r.n; ++e) dp[e] = c_out * dp[e] + c_skip * c_in * xp[e];
    if (i + 1 < r.steps) {
      noise(z);
      for (int64_t e = 0; e < r.n; ++e) xp[e] = dp[e] + s_next * zp[e];
    } else {
      std::copy(dp, dp + r.n, xp);
    }
    r.report(i, true, i + 1 < r.steps ? s_next : 0.0f, x, d);
  }
}

namespace {

// One UniPC update (Zhao et al. 2023, B(h) = e^h - 1 "bh2", data prediction) in k-diffusion variables:
// from x at s0 with x0 history ms (newest last, sigmas ss) to level s_t. `mt` (the x0 at s_t) given:
// corrector UniC, else predictor UniP.
void unipc_update(std::vector<float>& out, const float* x, const std::deque<std::vector<float>>& ms, const std::deque<float>& ss, float s_t,
                  const float* mt, int order, int64_t n) {
  const double s0 = ss.back();
  const std::vector<float>& m0 = ms.back();
  const double h = s_t == 0 ? INFINITY : std::log(s0 / double(s_t));  // lambda_t - lambda_s0, lambda = -log(sigma)
  if (h == 0) {  // a repeated level (round(linspace) at 1000 steps): nothing to integrate
    out.assign(x, x + n);
    return;
  }
  // A history entry at the same level would divide by r = 0: first order then.
  if (order == 2 && double(ss[ss.size() - 2]) == s0) order = 1;
  std::vector<double> rks;
  std::vector<std::vector<float>> D1s;
  for (int k = 1; k < order; ++k) {
    const double sk = ss[ss.size() - 1 - size_t(k)];
    const double rk = std::log(s0 / sk) / h;  // (lambda_sk - lambda_s0) / h
    const std::vector<float>& mk = ms[ms.size() - 1 - size_t(k)];
    std::vector<float> v(static_cast<size_t>(n));
    for (int64_t e = 0; e < n; ++e) v[e] = float((mk[e] - m0[e]) / rk);
    rks.push_back(rk);
    D1s.push_back(std::move(v));
  }
  rks.push_back(1.0);
  const double hh = -h, h_phi_1 = std::expm1(hh), B_h = std::expm1(hh);
  std::vector<double> rhos;
  if (mt == nullptr) {
    if (order == 2) rhos = {0.5};
  } else if (order == 1) {
    rhos = {0.5};
  } else {  // order 2: solve [[1, 1], [r1, 1]] rho = b
    double h_phi_k = h_phi_1 / hh - 1, fact = 1;
    double b[2];
    for (int k = 1; k <= 2; ++k) {
      b[k - 1] = h_phi_k * fact / B_h;
      fact *= k + 1;
      h_phi_k = h_phi_k / hh - 1 / fact;
    }
    const double r1 = rks[0], det = 1 * 1 - 1 * r1;
    rhos = {(b[0] * 1 - 1 * b[1]) / det, (1 * b[1] - r1 * b[0]) / det};
  }
  const float ratio = float(s_t / s0), c0 = float(-h_phi_1), cb = float(-B_h);
  out.resize(static_cast<size_t>(n));
  for (int64_t e = 0; e < n; ++e) {
    double res = 0;
    for (size_t k = 0; k < D1s.size(); ++k) res += rhos[k] * D1s[k][e];
    if (mt != nullptr) res += rhos.back() * (double(mt[e]) - m0[e]);
    out[e] = ratio * x[e] + c0 * m0[e] + cb * float(res);
  }
}

}  // namespace

// UniPC multistep (Zhao et al. 2023), bh2, order 2, predictor UniP + corrector UniC on every step but the first.
void sample_unipc(Denoiser& model, Tensor& x, const Schedule& sched, const NoiseFn&, const StepCallback& cb) {
  Run r(model, x, sched, cb);
  Tensor d = r.scratch();
  float *xp = F(x), *dp = F(d);
  std::deque<std::vector<float>> ms;  // x0 history, newest last (<= 2)
  std::deque<float> ss;               // their sigmas
  std::vector<float> last(static_cast<size_t>(r.n)), tmp;
  int this_order = 1, lower_order_nums = 0;
  for (int i = 0; i < r.steps; ++i) {
    r.denoise(x, i, d);
    if (i > 0) {  // corrector: redo the last step with the model output at its end point
      unipc_update(tmp, last.data(), ms, ss, r.sigma(i), dp, this_order, r.n);
      std::copy(tmp.begin(), tmp.end(), xp);
    }
    ms.emplace_back(dp, dp + r.n);
    ss.push_back(r.sigma(i));
    if (ms.size() > 2) ms.pop_front(), ss.pop_front();
    this_order = std::min({2, r.steps - i, lower_order_nums + 1});  // warm-up and lower_order_final
    std::copy(xp, xp + r.n, last.begin());
    unipc_update(tmp, xp, ms, ss, r.sigma(i + 1), nullptr, this_order, r.n);
    std::copy(tmp.begin(), tmp.end(), xp);
    lower_order_nums = std::min(lower_order_nums + 1, 2);
    r.report(i, true, r.sigma(i + 1), x, d);
  }
}

// improved PNDM (Zhang & Chen 2023, iPNDM): Adams-Bashforth up to order 4 on dx/dsigma, lower-order warm-up.
void sample_ipndm(Denoiser& model, Tensor& x, const Schedule& sched, const NoiseFn&, const StepCallback& cb) {
  Run r(model, x, sched, cb);
  Tensor d = r.scratch();
  float *xp = F(x), *dp = F(d);
  std::deque<std::vector<float>> derivs;
  std::vector<float> combo;
  for (int i = 0; i < r.steps; ++i) {
    const float s = r.sigma(i), s_next = r.sigma(i + 1);
    r.denoise(x, i, d);
    std::vector<float> der(static_cast<size_t>(r.n));
    for (int64_t e = 0; e < r.n; ++e) der[e] = (xp[e] - dp[e]) / s;
    derivs.push_back(std::move(der));
    if (derivs.size() > 4) derivs.pop_front();
    adams_bashforth(derivs, r.n, combo);
    for (int64_t e = 0; e < r.n; ++e) xp[e] += (s_next - s) * combo[e];
    r.report(i, true, s_next, x, d);
  }
}

// Trajectory Consistency Distillation's strategic stochastic sampling (Zheng et al. 2024), gamma 0.3:
// jump to the earlier level t_s = (1 - gamma) t_next, then re-noise to sigma_next; the last step returns x0.
void sample_tcd(Denoiser& model, Tensor& x, const Schedule& sched, const NoiseFn& noise, const StepCallback& cb) {
  constexpr double gamma = 0.3;
  Run r(model, x, sched, cb);
  Tensor d = r.scratch(), z = r.scratch();
  float *xp = F(x), *dp = F(d), *zp = F(z);
  for (int i = 0; i < r.steps; ++i) {
    const float s = r.sigma(i), s_next = r.sigma(i + 1);
    r.denoise(x, i, d);
    if (s_next == 0) {
      std::copy(dp, dp + r.n, xp);
    } else {
      const double t_next = model.schedule().sigma_to_t(s_next);
      const float s_s = std::min(s_next, float(model.schedule().t_to_sigma(std::floor((1 - gamma) * t_next))));
      const float renoise = std::sqrt(std::max(0.0f, s_next * s_next - s_s * s_s));
      noise(z);
      for (int64_t e = 0; e < r.n; ++e) xp[e] = dp[e] + s_s * (xp[e] - dp[e]) / s + renoise * zp[e];
    }
    r.report(i, true, s_next, x, d);
  }
}

}  // namespace sd
