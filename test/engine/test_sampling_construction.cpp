// Samplers by construction, on Gaussian data x0 ~ N(mu, sd^2) whose exact
// denoiser is known: deterministic samplers converge to the exact
// probability-flow ODE solution (higher order: faster), stochastic ones
// sample the data distribution, all are reproducible, draw noise as often as
// diffusers, report every model call, and stop when the callback says so.
// Also: guidance batching and the prediction types.
#define SD_TEST_MAIN
#include <algorithm>
#include <cmath>
#include <string>

#include "core/error.h"
#include "harness.h"
#include "sampling/rng_torch.h"
#include "sampling/sampler_setup.h"

using namespace sd;

namespace {

constexpr double kMu = 0.5, kSd = 1.0;

const ModelSchedule& sd1() {
  static ModelSchedule m = ModelSchedule::scaled_linear();
  return m;
}

// The exact model for Gaussian data: eps (or v) of the posterior mean
// D = mu + sd^2 / (sd^2 + sigma^2) (x - mu). sigma is recovered from t with the
// inverse of sigma_to_t, so schedules must use fractional timesteps.
ModelFn gaussian_model(Prediction pred, int* calls = nullptr, int64_t* rows = nullptr) {
  return [=](const Tensor& x_in, float t, Tensor& out) {
    const double s = sd1().t_to_sigma_log(t), c_in = 1 / std::sqrt(s * s + 1);
    const float* in = x_in.data_as<float>();
    float* o = out.data_as<float>();
    for (int64_t i = 0; i < x_in.numel(); ++i) {
      double x = in[i] / c_in, d = kMu + kSd * kSd / (kSd * kSd + s * s) * (x - kMu);
      o[i] = pred == Prediction::Epsilon ? float((x - d) / s) : float((d - x / (s * s + 1)) / (-s / std::sqrt(s * s + 1)));
    }
    if (calls) ++*calls;
    if (rows) *rows = x_in.size(0);
  };
}

Tensor start_latent(uint64_t seed, float sigma0, int64_t hw = 16) {
  TorchGenerator g(seed);
  Tensor x = Tensor::empty(DType::F32, {1, 4, hw, hw});
  g.randn(x.data_as<float>(), x.numel());
  float* p = x.data_as<float>();
  for (int64_t i = 0; i < x.numel(); ++i) p[i] = float(kMu + std::sqrt(kSd * kSd + sigma0 * sigma0) * p[i]);
  return x;
}

Schedule karras(int steps) {
  ScheduleOptions o;
  o.kind = ScheduleKind::Karras;
  return make_schedule(sd1(), steps, o);
}

struct Result {
  Tensor x;
  int calls = 0, draws = 0, reports = 0, done = 0;
};

Result run(Sampler s, const Schedule& sched, uint64_t seed = 7, Prediction pred = Prediction::Epsilon, int64_t hw = 16) {
  Result r;
  r.x = start_latent(seed, sched.sigmas[0], hw);
  Denoiser den(gaussian_model(pred, &r.calls), sd1(), pred, 5.0f);
  TorchGenerator g(seed + 1000);
  NoiseFn noise = [&](Tensor& z) {
    g.randn(z.data_as<float>(), z.numel());
    ++r.draws;
  };
  StepCallback cb = [&](const StepInfo& info) {
    ++r.reports;
    r.done += info.step_done;
    return true;
  };
  sampler_fn(s)(den, r.x, sched, noise, cb);
  return r;
}

// rel. L2 error against the exact ODE solution x0 = mu + sd / sqrt(sd^2 + s0^2) (x_T - mu).
double ode_error(const Tensor& out, const Tensor& start, float s0) {
  std::vector<float> exact(static_cast<size_t>(start.numel()));
  for (int64_t i = 0; i < start.numel(); ++i)
    exact[i] = float(kMu + kSd / std::sqrt(kSd * kSd + s0 * s0) * (start.data_as<float>()[i] - kMu));
  return sdtest::rel_l2(out.data_as<float>(), exact.data(), exact.size());
}

const Sampler kDeterministic[] = {Sampler::Euler, Sampler::Heun, Sampler::Dpm2,  Sampler::Dpmpp2m, Sampler::Lms,
                                  Sampler::Ddim,  Sampler::Pndm, Sampler::Unipc, Sampler::Ipndm};
const Sampler kAll[] = {Sampler::Euler,    Sampler::EulerA,     Sampler::Heun,  Sampler::Dpm2, Sampler::Dpmpp2m,
                        Sampler::Dpmpp2sA, Sampler::Dpmpp2mSde, Sampler::Lms,   Sampler::Ddim, Sampler::Pndm,
                        Sampler::Lcm,      Sampler::Unipc,      Sampler::Ipndm, Sampler::Tcd};

}  // namespace

TEST(deterministic_samplers_converge_to_the_exact_ode_solution) {
  const int N = 10;
  Schedule s10 = karras(N), s60 = karras(60);
  const double euler10 = ode_error(run(Sampler::Euler, s10).x, start_latent(7, s10.sigmas[0]), s10.sigmas[0]);
  for (Sampler s : kDeterministic) {
    double e10 = ode_error(run(s, s10).x, start_latent(7, s10.sigmas[0]), s10.sigmas[0]);
    double e60 = ode_error(run(s, s60).x, start_latent(7, s60.sigmas[0]), s60.sigmas[0]);
    std::printf("     %-12s ODE error: 10 steps %.2e, 60 steps %.2e\n", sampler_name(s), e10, e60);
    // 6x the steps: error / 6 for a first-order method, / 36 for second order.
    const bool first_order = s == Sampler::Euler || s == Sampler::Ddim;
    const double min_gain = first_order ? 4 : 20, max_e60 = first_order ? 0.05 : 2e-3;
    CHECK_MSG(e10 / e60 >= min_gain && e60 <= max_e60, "%s: %.3g -> %.3g", sampler_name(s), e10, e60);
    if (!first_order) CHECK_MSG(e10 < 0.5 * euler10, "%s (%.3g) not better than euler (%.3g)", sampler_name(s), e10, euler10);
  }
}

TEST(stochastic_samplers_sample_the_data_distribution) {
  Schedule sched = karras(100);  // enough steps that euler_a's first-order bias is small
  for (Sampler s : {Sampler::EulerA, Sampler::Dpmpp2sA, Sampler::Dpmpp2mSde}) {
    Result r = run(s, sched, 11, Prediction::Epsilon, 64);  // 16384 independent samples
    double sum = 0, sq = 0;
    const float* p = r.x.data_as<float>();
    for (int64_t i = 0; i < r.x.numel(); ++i) sum += p[i], sq += double(p[i]) * p[i];
    double mean = sum / r.x.numel(), sd = std::sqrt(sq / r.x.numel() - mean * mean);
    std::printf("     %-12s mean %.4f (want %.2f), std %.4f (want %.2f)\n", sampler_name(s), mean, kMu, sd, kSd);
    CHECK_MSG(std::fabs(mean - kMu) < 0.03 && std::fabs(sd - kSd) < 0.05, "%s: mean %.3g std %.3g", sampler_name(s), mean, sd);
    // The ODE maps x_T to the same distribution; fresh noise must decorrelate the result from it.
    double from_ode = ode_error(r.x, start_latent(11, sched.sigmas[0], 64), sched.sigmas[0]);
    CHECK_MSG(from_ode > 0.3, "%s: only %.3g away from the deterministic solution", sampler_name(s), from_ode);
  }
}

TEST(every_sampler_is_reproducible) {
  Schedule sched = karras(6);
  for (Sampler s : kAll) {
    Result a = run(s, sched), b = run(s, sched);
    bool same = std::equal(a.x.data_as<float>(), a.x.data_as<float>() + a.x.numel(), b.x.data_as<float>());
    CHECK_MSG(same, "%s differs between runs", sampler_name(s));
    bool finite = true;
    for (int64_t i = 0; i < a.x.numel(); ++i) finite &= std::isfinite(a.x.data_as<float>()[i]);
    CHECK_MSG(finite, "%s produced non-finite values", sampler_name(s));
  }
}

TEST(model_calls_noise_draws_and_reports_follow_the_reference_conventions) {
  const int N = 6;
  Schedule sched = karras(N);
  struct Want {
    Sampler s;
    int calls, draws;
  } wants[] = {
      {Sampler::Euler, N, 0},        {Sampler::EulerA, N, N},  // euler_a draws on the last step too
      {Sampler::Heun, 2 * N - 1, 0}, {Sampler::Dpm2, 2 * N - 1, 0}, {Sampler::Dpmpp2m, N, 0}, {Sampler::Dpmpp2sA, 2 * N - 1, N - 1},
      {Sampler::Dpmpp2mSde, N, N},   {Sampler::Lms, N, 0},          {Sampler::Ddim, N, 0},    {Sampler::Pndm, N + 1, 0},
      {Sampler::Lcm, N, N - 1},      {Sampler::Unipc, N, 0},        {Sampler::Ipndm, N, 0},   {Sampler::Tcd, N, N - 1}};
  for (auto& w : wants) {
    Result r = run(w.s, sched);
    CHECK_MSG(r.calls == w.calls && r.draws == w.draws, "%s: %d calls %d draws", sampler_name(w.s), r.calls, r.draws);
    CHECK_MSG(r.reports == r.calls && r.done == N, "%s: %d reports, %d steps done", sampler_name(w.s), r.reports, r.done);
  }
}

TEST(custom_lists_ending_above_zero_run_every_sampler) {
  // The last level has no schedule timestep (two-call samplers evaluate there).
  Schedule sched = custom_schedule(sd1(), {14.0f, 5.0f, 1.0f, 0.3f}, false);
  for (Sampler s : kAll) {
    Result r = run(s, sched);
    CHECK_MSG(r.done == 3, "%s: %d steps", sampler_name(s), r.done);
    // 3 coarse steps: only a sanity bound. The exact solution at sigma 0.3 is mu + sqrt(sd^2 + 0.09) / sqrt(sd^2 + 196) (x_T - mu)
    const float* p = r.x.data_as<float>();
    Tensor start = start_latent(7, 14.0f);
    double num = 0, den = 0;
    for (int64_t i = 0; i < r.x.numel(); ++i) {
      double want = kMu + std::sqrt((kSd * kSd + 0.09) / (kSd * kSd + 196)) * (start.data_as<float>()[i] - kMu);
      num += (p[i] - want) * (p[i] - want);
      den += want * want;
    }
    const bool deterministic = std::find(std::begin(kDeterministic), std::end(kDeterministic), s) != std::end(kDeterministic);
    const double rel = std::sqrt(num / den);
    CHECK_MSG(std::isfinite(rel) && (!deterministic || rel < 0.5), "%s: rel %.3g", sampler_name(s), rel);
  }
}

TEST(a_false_callback_aborts_within_the_step) {
  Schedule sched = karras(8);
  for (Sampler s : kAll) {
    Tensor x = start_latent(1, sched.sigmas[0]);
    int calls = 0;
    Denoiser den(gaussian_model(Prediction::Epsilon, &calls), sd1(), Prediction::Epsilon, 1.0f);
    TorchGenerator g(1);
    NoiseFn noise = [&](Tensor& z) { g.randn(z.data_as<float>(), z.numel()); };
    StepCallback cb = [&](const StepInfo& info) { return info.call < 2; };
    CHECK_THROWS_CODE(sampler_fn(s)(den, x, sched, noise, cb), ErrorCode::Aborted);
    CHECK_MSG(calls == 3, "%s: %d model calls before stopping", sampler_name(s), calls);
  }
}

TEST(the_callback_may_replace_the_latent_between_steps) {
  // Inpainting-style blend: set part of x to mu after the first step only. The
  // exact denoiser maps mu to mu at every level, so single-step samplers must
  // keep those elements at mu for the rest of the run.
  Schedule sched = karras(5);
  for (Sampler s : {Sampler::Euler, Sampler::Heun, Sampler::Dpm2, Sampler::Ddim}) {
    Tensor x = start_latent(2, sched.sigmas[0]);
    Denoiser den(gaussian_model(Prediction::Epsilon), sd1(), Prediction::Epsilon, 1.0f);
    StepCallback pin = [&](const StepInfo& info) {
      if (info.step_done && info.step == 0) std::fill(info.x.data_as<float>(), info.x.data_as<float>() + 8, float(kMu));
      return true;
    };
    sampler_fn(s)(den, x, sched, NoiseFn(), pin);
    double worst = 0;
    for (int i = 0; i < 8; ++i) worst = std::fmax(worst, std::fabs(x.data_as<float>()[i] - kMu));
    CHECK_MSG(worst < 1e-5, "%s: pinned elements moved by %.3g", sampler_name(s), worst);
    CHECK(std::fabs(x.data_as<float>()[100] - kMu) > 1e-3);  // the rest was sampled
  }
}

TEST(a_non_finite_model_output_is_a_numerical_error) {
  Schedule sched = karras(4);
  ModelFn nan_model = [](const Tensor&, float, Tensor& out) { std::fill(out.data_as<float>(), out.data_as<float>() + out.numel(), NAN); };
  for (Sampler s : kAll) {
    Tensor x = start_latent(1, sched.sigmas[0]);
    Denoiser den(nan_model, sd1(), Prediction::Epsilon, 7.5f);
    TorchGenerator g(1);
    NoiseFn noise = [&](Tensor& z) { g.randn(z.data_as<float>(), z.numel()); };
    CHECK_THROWS_CODE(sampler_fn(s)(den, x, sched, noise, StepCallback()), ErrorCode::Numerical);
  }
}

TEST(guidance_runs_one_batch_uncond_then_cond_and_skips_uncond_at_scale_one) {
  // Model: row r of the batch returns 1 + 2*r (uncond 1, cond 3) and records its rows.
  int64_t rows = 0;
  ModelFn model = [&](const Tensor& x_in, float, Tensor& out) {
    rows = x_in.size(0);
    const int64_t per = x_in.numel() / rows;
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t i = 0; i < per; ++i) out.data_as<float>()[r * per + i] = float(1 + 2 * r);
    // both rows carry the same scaled input
    CHECK(rows == 1 || x_in.data_as<float>()[0] == x_in.data_as<float>()[per]);
  };
  Tensor x = Tensor::empty(DType::F32, {1, 4, 2, 2}), d = Tensor::empty(DType::F32, {1, 4, 2, 2});
  std::fill(x.data_as<float>(), x.data_as<float>() + 16, 2.0f);
  Denoiser guided(model, sd1(), Prediction::Epsilon, 7.5f);
  guided(x, 3.0f, 500.0f, d);
  CHECK(rows == 2);
  CHECK(std::fabs(d.data_as<float>()[5] - (2.0f - 3.0f * (1 + 7.5f * 2))) < 1e-5f);
  // At 1 and below (turbo models' 0) the conditional pass runs alone, as in diffusers.
  for (float scale : {1.0f, 0.5f, 0.0f}) {
    Denoiser plain(model, sd1(), Prediction::Epsilon, scale);
    plain(x, 3.0f, 500.0f, d);
    CHECK_MSG(rows == 1, "scale %g ran %lld rows", double(scale), static_cast<long long>(rows));  // cond only: row 0 returned 1 here
    CHECK(std::fabs(d.data_as<float>()[5] - (2.0f - 3.0f * 1)) < 1e-5f);
  }
}

// round(linspace(0, 999, 1001)) repeats timestep 500 at 1000 steps: the
// multistep solvers take a first-order step after the repeated level instead
// of dividing by its zero log-step.
TEST(multistep_solvers_survive_a_repeated_level) {
  ScheduleOptions o;
  o.spacing = Spacing::LinspaceRounded;
  const Schedule sched = make_schedule(sd1(), 1000, o);
  int repeats = 0;
  for (size_t i = 1; i < sched.sigmas.size(); ++i) repeats += sched.sigmas[i] == sched.sigmas[i - 1];
  CHECK(repeats == 1);
  for (Sampler s : {Sampler::Dpmpp2m, Sampler::Dpmpp2mSde, Sampler::Unipc}) {
    Result r = run(s, sched, 5, Prediction::Epsilon, 4);
    bool finite = true;
    for (int64_t i = 0; i < r.x.numel(); ++i) finite &= std::isfinite(r.x.data_as<float>()[i]);
    CHECK_MSG(finite, "%s", sampler_name(s));
    const double err = ode_error(r.x, start_latent(5, sched.sigmas[0], 4), sched.sigmas[0]);
    CHECK_MSG(s == Sampler::Dpmpp2mSde || err < 1e-3, "%s: rel error %.3g against the exact ODE solution", sampler_name(s), err);
  }
}

TEST(v_prediction_denoises_like_epsilon) {
  Schedule sched = karras(8);
  for (Sampler s : {Sampler::Euler, Sampler::Dpmpp2m, Sampler::Unipc, Sampler::Lcm}) {
    Result e = run(s, sched, 3, Prediction::Epsilon), v = run(s, sched, 3, Prediction::V);
    double err = sdtest::rel_l2(v.x.data_as<float>(), e.x.data_as<float>(), size_t(e.x.numel()));
    CHECK_MSG(err < 1e-5, "%s: v vs eps rel %.3g", sampler_name(s), err);
  }
  CHECK(parse_prediction("v_prediction") == Prediction::V && parse_prediction("epsilon") == Prediction::Epsilon);
  CHECK_THROWS_CODE(parse_prediction("sample"), ErrorCode::InvalidOption);
}

TEST(setup_follows_each_schedulers_conventions) {
  for (Sampler s : kAll) CHECK(parse_sampler(sampler_name(s)) == s);
  CHECK_THROWS_CODE(parse_sampler("dpmpp_2m"), ErrorCode::InvalidOption);
  SamplingOptions o;
  o.steps = 8;
  auto eu = setup_sampling(sd1(), Sampler::Euler, o);
  CHECK(eu.init_noise_sigma == eu.schedule.sigmas[0] && eu.schedule.sigmas[8] == 0);
  auto dd = setup_sampling(sd1(), Sampler::Ddim, o);
  CHECK(dd.schedule.timesteps[0] == 876 && dd.schedule.sigmas[8] == sd1().sigmas[0]);
  CHECK(std::fabs(dd.init_noise_sigma - std::sqrt(dd.schedule.sigmas[0] * dd.schedule.sigmas[0] + 1)) < 1e-6f);
  o.model_leading_spacing = true;  // SDXL: sqrt(sigma_max^2 + 1), as diffusers' init_noise_sigma
  auto xl = setup_sampling(sd1(), Sampler::EulerA, o);
  CHECK(xl.schedule.timesteps[0] == 876 && std::fabs(xl.init_noise_sigma - 7.439363f) < 1e-4f);
  o.model_leading_spacing = false;
  o.model_trailing_spacing = true;  // SDXL-Turbo style: 999, 874, ... and sigma_max start
  auto tr = setup_sampling(sd1(), Sampler::EulerA, o);
  CHECK(tr.schedule.timesteps[0] == 999 && tr.schedule.timesteps[1] == 874 && tr.init_noise_sigma == tr.schedule.sigmas[0]);
  CHECK(setup_sampling(sd1(), Sampler::Dpmpp2m, o).schedule.timesteps[7] == 124);
  CHECK(setup_sampling(sd1(), Sampler::Lcm, o).schedule.timesteps[1] == 879);
  o.model_leading_spacing = true;
  CHECK_THROWS_CODE(setup_sampling(sd1(), Sampler::Euler, o), ErrorCode::InvalidOption);
  o.model_leading_spacing = o.model_trailing_spacing = false;
  o.custom_sigmas = {10.0f, 1.0f, 0.0f};
  CHECK(setup_sampling(sd1(), Sampler::Dpmpp2m, o).schedule.steps() == 2);
  // finish_latents: VP latent at a nonzero final level, identity at 0.
  Tensor x = Tensor::empty(DType::F32, {1, 1, 1, 1});
  x.data_as<float>()[0] = 2.0f;
  finish_latents(x, dd.schedule);
  CHECK(std::fabs(x.data_as<float>()[0] - 2.0f / std::sqrt(1 + sd1().sigmas[0] * sd1().sigmas[0])) < 1e-7f);
  finish_latents(x, eu.schedule);
  CHECK(x.data_as<float>()[0] < 2.0f && x.data_as<float>()[0] > 1.99f);
}
