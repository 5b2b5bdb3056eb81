#include "sampling/schedules.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace sd {

namespace {

// numpy.linspace(start, stop, num) in double: start + i*step, last = stop exactly.
std::vector<double> np_linspace(double start, double stop, int num) {
  std::vector<double> v(static_cast<size_t>(num));
  double step = num > 1 ? (stop - start) / double(num - 1) : 0.0;
  for (int i = 0; i < num; ++i) v[i] = double(i) * step + start;
  if (num > 1) v[num - 1] = stop;
  return v;
}

// Linear interpolation of ys over xs (ascending), clamped (numpy.interp).
double interp(double x, const std::vector<double>& xs, const std::vector<double>& ys) {
  if (x <= xs.front()) return ys.front();
  if (x >= xs.back()) return ys.back();
  size_t j = size_t(std::upper_bound(xs.begin(), xs.end(), x) - xs.begin()) - 1;
  double slope = (ys[j + 1] - ys[j]) / (xs[j + 1] - xs[j]);
  return slope * (x - xs[j]) + ys[j];
}

void append_timesteps(const ModelSchedule& m, Schedule& s, bool integer) {
  for (size_t i = 0; i + 1 < s.sigmas.size(); ++i) {
    double t = m.sigma_to_t(s.sigmas[i]);
    s.timesteps.push_back(float(integer ? std::nearbyint(t) : t));
  }
}

Schedule discrete(const ModelSchedule& m, int n, const ScheduleOptions& opt) {
  const int T = m.num_train_timesteps();
  if (n > T) fail(ErrorCode::InvalidOption, "discrete schedule: steps must be <= " + std::to_string(T));
  std::vector<double> ts;  // descending
  switch (opt.spacing) {
    case Spacing::Linspace: {
      auto l = np_linspace(0, T - 1, n);
      for (int i = n - 1; i >= 0; --i) ts.push_back(double(float(l[i])));  // float32 timesteps
      break;
    }
    case Spacing::LinspaceRounded: {
      auto l = np_linspace(0, T - 1, n + 1);
      for (int i = n; i >= 1; --i) ts.push_back(std::nearbyint(l[i]));  // round half to even, as numpy
      break;
    }
    case Spacing::Leading: {
      int ratio = T / n;
      for (int i = n - 1; i >= 0; --i) ts.push_back(double(i * ratio + opt.steps_offset));
      break;
    }
    case Spacing::LeadingMultistep: {
      int ratio = T / (n + 1);
      for (int i = n; i >= 1; --i) ts.push_back(double(i * ratio + opt.steps_offset));
      break;
    }
    case Spacing::Trailing: {
      double ratio = double(T) / n;
      for (int i = 0; i < n; ++i) ts.push_back(std::nearbyint(double(T) - i * ratio) - 1);
      break;
    }
    case Spacing::Lcm: {
      // origin steps k*(T/orig) - 1 for k = 1..orig, descending; take floor(linspace(0, orig, n, endpoint=False)).
      int orig = opt.lcm_original_steps;
      if (n > orig) fail(ErrorCode::InvalidOption, "lcm/tcd: steps must be <= " + std::to_string(orig));
      int c = T / orig;
      for (int i = 0; i < n; ++i) {
        int idx = int(std::floor(double(i) * double(orig) / double(n)));
        ts.push_back(double((orig - idx) * c - 1));
      }
      break;
    }
  }
  Schedule s;
  for (double t : ts) {
    if (t < 0 || t > T - 1)
      fail(ErrorCode::InvalidOption, "steps: " + std::to_string(n) + " is too many for this sampler on this model's schedule (timestep " +
                                         std::to_string(int(t)) + " > " + std::to_string(T - 1) + ")");
    s.sigmas.push_back(float(m.t_to_sigma(t)));
    s.timesteps.push_back(float(t));
  }
  s.sigmas.push_back(opt.final_sigma_min ? m.sigmas.front() : 0.0f);
  return s;
}

std::vector<double> loglinear_resample(const std::vector<double>& desc, int n) {
  std::vector<double> xs = np_linspace(0, 1, int(desc.size())), ys;
  for (double v : desc) ys.push_back(std::log(v));
  std::vector<double> out;
  for (double x : np_linspace(0, 1, n)) out.push_back(std::exp(interp(x, xs, ys)));
  return out;
}

}  // namespace

namespace {
// torch.linspace(float32): start + i*step in the first half, end - (T-1-i)*step in the second.
std::vector<float> torch_linspace_f32(float a, float b, int T) {
  std::vector<float> v(static_cast<size_t>(T));
  const float step = (b - a) / float(T - 1);
  for (int i = 0; i < T; ++i) v[i] = i < T / 2 ? a + step * float(i) : b - step * float(T - 1 - i);
  return v;
}
}  // namespace

ModelSchedule ModelSchedule::scaled_linear(double beta_start, double beta_end, int T) {
  if (T < 2) fail(ErrorCode::InvalidOption, "num_train_timesteps must be >= 2");
  std::vector<float> betas = torch_linspace_f32(float(std::sqrt(beta_start)), float(std::sqrt(beta_end)), T);
  for (float& b : betas) b = b * b;
  return from_betas(std::move(betas));
}

ModelSchedule ModelSchedule::linear(double beta_start, double beta_end, int T) {
  if (T < 2) fail(ErrorCode::InvalidOption, "num_train_timesteps must be >= 2");
  return from_betas(torch_linspace_f32(float(beta_start), float(beta_end), T));
}

ModelSchedule ModelSchedule::from_betas(std::vector<float> betas) {
  if (betas.size() < 2) fail(ErrorCode::InvalidOption, "noise schedule: need at least 2 betas");
  ModelSchedule m;
  double cum = 1.0;  // torch.cumprod accumulates in double on CPU
  for (float beta : betas) {
    if (!(beta > 0 && beta < 1)) fail(ErrorCode::InvalidOption, "noise schedule: betas must be in (0, 1)");
    cum *= double(1.0f - beta);
    float ac = float(cum);
    m.alphas_cumprod.push_back(ac);
    m.sigmas.push_back(std::sqrt((1.0f - ac) / ac));
  }
  for (size_t i = 1; i < m.sigmas.size(); ++i)
    if (!(m.sigmas[i] > m.sigmas[i - 1])) fail(ErrorCode::InvalidOption, "noise schedule: sigmas must increase with t");
  m.betas = std::move(betas);
  return m;
}

ModelSchedule ModelSchedule::zero_terminal_snr() const {
  const size_t T = alphas_cumprod.size();
  std::vector<float> bar_sqrt(T);
  for (size_t i = 0; i < T; ++i) bar_sqrt[i] = std::sqrt(alphas_cumprod[i]);
  const float first = bar_sqrt.front(), last = bar_sqrt.back();
  for (float& s : bar_sqrt) s = (s - last) * (first / (first - last));
  ModelSchedule m;
  m.betas.resize(T);
  double cum = 1.0;  // torch.cumprod accumulates in double on CPU
  for (size_t i = 0; i < T; ++i) {
    const float bar = bar_sqrt[i] * bar_sqrt[i];
    const float alpha = i == 0 ? bar : bar / (bar_sqrt[i - 1] * bar_sqrt[i - 1]);
    m.betas[i] = 1.0f - alpha;
    cum *= double(1.0f - m.betas[i]);
    m.alphas_cumprod.push_back(i + 1 == T ? 0x1p-24f : float(cum));
    m.sigmas.push_back(std::sqrt((1.0f - m.alphas_cumprod.back()) / m.alphas_cumprod.back()));
  }
  for (size_t i = 1; i < T; ++i)
    if (!(m.sigmas[i] > m.sigmas[i - 1]))
      fail(ErrorCode::ModelUnsupported,
           "zero terminal SNR: on this beta schedule alphas_cumprod falls below 2^-24 before the last step, so sigma would not increase "
           "with t");
  return m;
}

double ModelSchedule::t_to_sigma(double t) const {
  const int T = num_train_timesteps();
  if (t <= 0) return sigmas.front();
  if (t >= T - 1) return sigmas.back();
  int i = int(std::floor(t));
  double slope = double(sigmas[i + 1]) - double(sigmas[i]);
  return slope * (t - i) + double(sigmas[i]);
}

double ModelSchedule::t_to_sigma_log(double t) const {
  const int T = num_train_timesteps();
  if (t <= 0) return sigmas.front();
  if (t >= T - 1) return sigmas.back();
  int i = int(std::floor(t));
  double w = t - i;
  return std::exp((1 - w) * std::log(double(sigmas[i])) + w * std::log(double(sigmas[i + 1])));
}

double ModelSchedule::sigma_to_t(double sigma) const {
  const int T = num_train_timesteps();
  double ls = std::log(std::max(sigma, 1e-10));
  if (ls <= std::log(double(sigmas.front()))) return 0;
  if (ls >= std::log(double(sigmas.back()))) return T - 1;
  // last i with log(sigmas[i]) <= ls
  int i = int(std::upper_bound(sigmas.begin(), sigmas.end(), sigma, [](double s, float v) { return s < double(v); }) - sigmas.begin()) - 1;
  i = std::clamp(i, 0, T - 2);
  double lo = std::log(double(sigmas[i])), hi = std::log(double(sigmas[i + 1]));
  double w = std::clamp((lo - ls) / (lo - hi), 0.0, 1.0);
  return (1 - w) * i + w * (i + 1);
}

ScheduleKind parse_schedule_kind(const std::string& name) {
  if (name == "discrete") return ScheduleKind::Discrete;
  if (name == "karras") return ScheduleKind::Karras;
  if (name == "exponential") return ScheduleKind::Exponential;
  if (name == "sgm_uniform") return ScheduleKind::SgmUniform;
  if (name == "simple") return ScheduleKind::Simple;
  if (name == "ays") return ScheduleKind::Ays;
  fail(ErrorCode::InvalidOption, "unknown scheduler '" + name + "' (discrete, karras, exponential, sgm_uniform, simple, ays)");
}

const std::vector<double>& ays_sigmas(AysFamily family) {
  // Align Your Steps (Sabour et al. 2024), published 10-step noise levels.
  static const std::vector<double> sd1 = {14.615, 6.475, 3.861, 2.697, 1.886, 1.396, 0.963, 0.652, 0.399, 0.152, 0.029};
  static const std::vector<double> sdxl = {14.615, 6.315, 3.771, 2.181, 1.342, 0.862, 0.555, 0.380, 0.234, 0.113, 0.029};
  return family == AysFamily::Sdxl ? sdxl : sd1;
}

Schedule make_schedule(const ModelSchedule& m, int n, const ScheduleOptions& opt) {
  if (n < 1 || n > 10000) fail(ErrorCode::InvalidOption, "steps must be in [1, 10000], got " + std::to_string(n));
  double smin = m.sigma_min(), smax = m.sigma_max();
  // Only karras / exponential copy diffusers' spacing-derived range; sgm_uniform,
  // simple and ays always span the model's (as ComfyUI defines them).
  if (opt.range_from_spacing && (opt.kind == ScheduleKind::Karras || opt.kind == ScheduleKind::Exponential)) {
    ScheduleOptions d = opt;
    d.final_sigma_min = false;
    Schedule spaced = discrete(m, n, d);
    smax = spaced.sigmas.front();
    smin = spaced.sigmas[size_t(n) - 1];
  }
  Schedule s;
  switch (opt.kind) {
    case ScheduleKind::Discrete: return discrete(m, n, opt);
    case ScheduleKind::Karras: {  // Karras et al. 2022, eq. 5, rho = 7
      const double rho = 7, a = std::pow(smax, 1 / rho), b = std::pow(smin, 1 / rho);
      for (double r : np_linspace(0, 1, n)) s.sigmas.push_back(float(std::pow(a + r * (b - a), rho)));
      break;
    }
    case ScheduleKind::Exponential:  // uniform in log(sigma)
      for (double l : np_linspace(std::log(smax), std::log(smin), n)) s.sigmas.push_back(float(std::exp(l)));
      break;
    case ScheduleKind::SgmUniform: {  // uniform in timestep from t(smax) to t(smin), endpoint excluded
      auto ts = np_linspace(m.sigma_to_t(smax), m.sigma_to_t(smin), n + 1);
      for (int i = 0; i < n; ++i) s.sigmas.push_back(float(m.t_to_sigma_log(ts[i])));
      break;
    }
    case ScheduleKind::Simple: {  // every (T/N)-th training sigma from the top
      const int T = m.num_train_timesteps();
      double ss = double(T) / n;
      for (int i = 0; i < n; ++i) s.sigmas.push_back(m.sigmas[T - 1 - int(i * ss)]);
      break;
    }
    case ScheduleKind::Ays: {  // published list, log-linearly resampled to N+1 levels, last level 0
      auto v = loglinear_resample(ays_sigmas(opt.ays), n + 1);
      for (int i = 0; i < n; ++i) s.sigmas.push_back(float(v[i]));
      break;
    }
  }
  s.sigmas.push_back(0.0f);
  append_timesteps(m, s, opt.integer_timesteps);
  return s;
}

Schedule custom_schedule(const ModelSchedule& m, const std::vector<float>& sigmas, bool integer_timesteps) {
  if (sigmas.size() < 2) fail(ErrorCode::InvalidOption, "sigmas: need at least 2 values (steps + 1)");
  for (size_t i = 0; i < sigmas.size(); ++i) {
    // 1e6 is far above any model's sigma_max (SD: 14.6; zero terminal SNR: 4096); larger values overflow sigma^2 + 1 in float.
    if (!std::isfinite(sigmas[i]) || sigmas[i] < 0 || sigmas[i] > 1e6f)
      fail(ErrorCode::InvalidOption, "sigmas: values must be finite, >= 0 and <= 1e6");
    if (i > 0 && !(sigmas[i] < sigmas[i - 1])) fail(ErrorCode::InvalidOption, "sigmas: values must be strictly descending");
  }
  Schedule s;
  s.sigmas = sigmas;
  append_timesteps(m, s, integer_timesteps);
  return s;
}

Schedule truncate_for_strength(const Schedule& full, double strength) {
  if (!(strength > 0 && strength <= 1)) fail(ErrorCode::InvalidOption, "strength must be in (0, 1]");
  const int n = full.steps();
  int keep = std::min(int(double(n) * strength), n);
  if (keep < 1)
    fail(ErrorCode::InvalidOption,
         "strength " + std::to_string(strength) + " with " + std::to_string(n) + " steps leaves no step to run: raise strength or steps");
  Schedule s;
  s.sigmas.assign(full.sigmas.end() - (keep + 1), full.sigmas.end());
  s.timesteps.assign(full.timesteps.end() - keep, full.timesteps.end());
  return s;
}

}  // namespace sd
