// Noise schedules: the training schedule equals the reference's float32
// computation; every schedule kind has its defining property; spacings give
// the reference's timesteps; custom lists and img2img truncation validate.
#define SD_TEST_MAIN
#include <cmath>
#include <string>

#include "core/error.h"
#include "harness.h"
#include "reference_file.h"
#include "sampling/scheduler_config.h"
#include "sampling/schedules.h"

using namespace sd;

static double max_rel(const std::vector<float>& a, const Tensor& b) {
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    double r = double(b.data_as<float>()[i]);
    m = std::fmax(m, std::fabs(double(a[i]) - r) / std::fabs(r));
  }
  return m;
}

static const ModelSchedule& sd1() {
  static ModelSchedule m = ModelSchedule::scaled_linear();
  return m;
}

TEST(training_schedule_matches_the_reference_float32_values) {
  for (const char* dir : {"tiny-sd1", "tiny-sd2"}) {
    const sdtest::ReferenceFile f(std::string(dir) + "/ref/schedule.safetensors");
    const ModelSchedule& m = sd1();
    CHECK(m.num_train_timesteps() == 1000);
    double eb = max_rel(m.betas, f.f32("betas")), ea = max_rel(m.alphas_cumprod, f.f32("alphas_cumprod"));
    double es = max_rel(m.sigmas, f.f32("sigmas_train"));
    CHECK_MSG(eb <= 1e-6 && ea <= 1e-6 && es <= 1e-6, "%s: betas %.3g, alphas_cumprod %.3g, sigmas %.3g", dir, eb, ea, es);
  }
  CHECK(std::fabs(sd1().sigma_min() - 0.029168) < 1e-6 && std::fabs(sd1().sigma_max() - 14.614647) < 1e-5);
}

// Zero terminal SNR (Lin et al., Algorithm 1), checked against its closed
// form in double: sqrt(ac'_t) = (sqrt(ac_t) - sqrt(ac_T)) * sqrt(ac_0) /
// (sqrt(ac_0) - sqrt(ac_T)); the last ac' is 2^-24 (sigma_max ~4096), not 0.
// A scheduler config with rescale_betas_zero_snr gets that schedule.
TEST(zero_terminal_snr_rescales_to_the_closed_form) {
  const ModelSchedule& m = sd1();
  const ModelSchedule z = m.zero_terminal_snr();
  const double s0 = std::sqrt(double(m.alphas_cumprod.front())), sT = std::sqrt(double(m.alphas_cumprod.back()));
  double worst = 0;
  for (int t = 0; t + 1 < 1000; ++t) {
    const double want = (std::sqrt(double(m.alphas_cumprod[t])) - sT) * s0 / (s0 - sT);
    worst = std::fmax(worst, std::fabs(std::sqrt(double(z.alphas_cumprod[t])) - want) / want);
  }
  CHECK_MSG(worst < 2e-5, "worst relative error %.3g", worst);
  CHECK(z.alphas_cumprod.back() == 0x1p-24f);
  CHECK(std::fabs(z.sigma_max() - 4096.0) < 0.01 && std::fabs(z.sigma_min() - m.sigma_min()) < 1e-6);
  const SchedulerConfig cfg = parse_scheduler_config(
      R"({"beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012, "rescale_betas_zero_snr": true})");
  CHECK(cfg.schedule.alphas_cumprod == z.alphas_cumprod);
  CHECK_THROWS_CODE(parse_scheduler_config(R"({"rescale_betas_zero_snr": "yes"})"), ErrorCode::ModelFormat);
}

// img2img keeps int(N * strength) steps in double, as Python: 0.7 of 10 is 7,
// 0.35 of 20 is 7 (GenerateParams carries strength as a double for this;
// test/api-generate.test.ts checks the whole path).
TEST(strength_truncation_counts_in_double) {
  CHECK(truncate_for_strength(make_schedule(sd1(), 10, ScheduleOptions{}), 0.7).steps() == 7);
  CHECK(truncate_for_strength(make_schedule(sd1(), 20, ScheduleOptions{}), 0.35).steps() == 7);
}

TEST(sigma_and_timestep_conversions_invert_each_other) {
  const ModelSchedule& m = sd1();
  for (int t : {0, 1, 17, 500, 998, 999}) CHECK_MSG(std::fabs(m.sigma_to_t(m.sigmas[t]) - t) < 1e-4, "t %d", t);
  for (double t : {0.25, 123.5, 998.75}) {
    CHECK(std::fabs(m.sigma_to_t(m.t_to_sigma_log(t)) - t) < 1e-6);
    double s = m.t_to_sigma(t);  // linear in sigma: between the neighbours
    CHECK(s > m.sigmas[int(t)] && s < m.sigmas[int(t) + 1]);
  }
  CHECK(m.sigma_to_t(100.0) == 999 && m.sigma_to_t(1e-3) == 0 && m.sigma_to_t(0) == 0);
}

TEST(discrete_spacings_give_the_reference_timesteps) {
  ScheduleOptions o;
  o.spacing = Spacing::Leading;
  auto lead = make_schedule(sd1(), 8, o);
  const float want_lead[] = {876, 751, 626, 501, 376, 251, 126, 1};
  for (int i = 0; i < 8; ++i) CHECK(lead.timesteps[i] == want_lead[i] && lead.sigmas[i] == sd1().sigmas[int(want_lead[i])]);
  CHECK(lead.sigmas[8] == 0);
  o.final_sigma_min = true;  // DDIM/PNDM: ends at alphas_cumprod[0]
  CHECK(make_schedule(sd1(), 8, o).sigmas[8] == sd1().sigmas[0]);

  o = ScheduleOptions();
  o.spacing = Spacing::LinspaceRounded;
  auto dpm = make_schedule(sd1(), 8, o);
  const float want_dpm[] = {999, 874, 749, 624, 500, 375, 250, 125};  // 499.5 rounds half to even
  for (int i = 0; i < 8; ++i) CHECK(dpm.timesteps[i] == want_dpm[i]);

  o.spacing = Spacing::LeadingMultistep;  // DPM-Solver/UniPC with "leading": T // (N+1) = 111
  auto lm = make_schedule(sd1(), 8, o);
  for (int i = 0; i < 8; ++i) CHECK(lm.timesteps[i] == float(889 - 111 * i));

  o.spacing = Spacing::Trailing;
  auto tr = make_schedule(sd1(), 8, o);
  const float want_tr[] = {999, 874, 749, 624, 499, 374, 249, 124};
  for (int i = 0; i < 8; ++i) CHECK(tr.timesteps[i] == want_tr[i]);

  o.spacing = Spacing::Lcm;
  auto lcm = make_schedule(sd1(), 8, o);
  const float want_lcm[] = {999, 879, 759, 639, 499, 379, 259, 139};
  for (int i = 0; i < 8; ++i) CHECK(lcm.timesteps[i] == want_lcm[i]);
  CHECK_THROWS_CODE(make_schedule(sd1(), 51, o), ErrorCode::InvalidOption);

  o.spacing = Spacing::Linspace;
  auto eu = make_schedule(sd1(), 8, o);
  CHECK(eu.timesteps[0] == 999 && eu.timesteps[7] == 0 && std::fabs(eu.timesteps[1] - 856.2857f) < 1e-3f);
  CHECK(eu.sigmas.size() == 9 && eu.sigmas[8] == 0);
}

TEST(karras_is_linear_in_sigma_to_the_one_over_rho) {
  ScheduleOptions o;
  o.kind = ScheduleKind::Karras;
  auto s = make_schedule(sd1(), 10, o);
  CHECK(s.sigmas.size() == 11 && s.sigmas[10] == 0);
  CHECK(std::fabs(s.sigmas[0] - sd1().sigma_max()) < 1e-5 && std::fabs(s.sigmas[9] - sd1().sigma_min()) < 1e-7);
  double step = std::pow(s.sigmas[1], 1 / 7.0) - std::pow(s.sigmas[0], 1 / 7.0);
  for (int i = 1; i < 10; ++i) CHECK(std::fabs(std::pow(s.sigmas[i], 1 / 7.0) - std::pow(s.sigmas[i - 1], 1 / 7.0) - step) < 1e-6);
  for (int i = 0; i < 10; ++i) CHECK(std::fabs(s.timesteps[i] - sd1().sigma_to_t(s.sigmas[i])) < 1e-3);
}

TEST(karras_range_can_follow_the_spacing_like_diffusers_euler) {
  ScheduleOptions o;
  o.kind = ScheduleKind::Karras;
  o.range_from_spacing = true;
  o.spacing = Spacing::Linspace;  // same range as the training schedule
  auto lin = make_schedule(sd1(), 8, o);
  CHECK(lin.sigmas[0] == sd1().sigmas[999] && std::fabs(lin.sigmas[7] - sd1().sigmas[0]) < 1e-7);
  o.spacing = Spacing::Leading;  // SDXL config: sigma(876) .. sigma(1)
  auto lead = make_schedule(sd1(), 8, o);
  CHECK(std::fabs(lead.sigmas[0] - sd1().sigmas[876]) < 1e-5 && std::fabs(lead.sigmas[7] - sd1().sigmas[1]) < 1e-7);
  CHECK(lead.sigmas[8] == 0);
}

TEST(exponential_is_uniform_in_log_sigma) {
  ScheduleOptions o;
  o.kind = ScheduleKind::Exponential;
  auto s = make_schedule(sd1(), 12, o);
  double step = std::log(s.sigmas[1] / s.sigmas[0]);
  for (int i = 1; i < 12; ++i) CHECK(std::fabs(std::log(s.sigmas[i] / s.sigmas[i - 1]) - step) < 1e-5);
  CHECK(std::fabs(s.sigmas[11] - sd1().sigma_min()) < 1e-7 && s.sigmas[12] == 0);
}

TEST(sgm_uniform_is_uniform_in_timestep_without_the_endpoint) {
  ScheduleOptions o;
  o.kind = ScheduleKind::SgmUniform;
  auto s = make_schedule(sd1(), 10, o);
  // t = linspace(999, 0, 11)[:10]
  for (int i = 0; i < 10; ++i) CHECK_MSG(std::fabs(s.timesteps[i] - (999 - 99.9 * i)) < 1e-3, "t[%d] %g", i, s.timesteps[i]);
  CHECK(s.sigmas[10] == 0);
  // The Euler family's diffusers-style range (range_from_spacing, for
  // karras/exponential) does not apply: the same schedule on SDXL's leading spacing.
  o.range_from_spacing = true;
  o.spacing = Spacing::Leading;
  CHECK(make_schedule(sd1(), 10, o).sigmas == s.sigmas);
}

TEST(simple_takes_every_nth_training_sigma) {
  ScheduleOptions o;
  o.kind = ScheduleKind::Simple;
  auto s = make_schedule(sd1(), 10, o);
  for (int i = 0; i < 10; ++i) CHECK(s.sigmas[i] == sd1().sigmas[999 - 100 * i] && s.timesteps[i] == float(999 - 100 * i));
}

TEST(ays_uses_the_published_lists_and_resamples_log_linearly) {
  ScheduleOptions o;
  o.kind = ScheduleKind::Ays;
  for (AysFamily fam : {AysFamily::Sd1, AysFamily::Sdxl}) {
    o.ays = fam;
    const auto& pub = ays_sigmas(fam);
    CHECK(pub.size() == 11 && pub.front() == 14.615 && pub.back() == 0.029);
    auto ten = make_schedule(sd1(), 10, o);
    for (int i = 0; i < 10; ++i) CHECK(std::fabs(ten.sigmas[i] - pub[i]) < 1e-5);
    CHECK(ten.sigmas[10] == 0);
    auto twenty = make_schedule(sd1(), 20, o);  // 21 levels: the published ones and their log midpoints
    for (int k = 0; k < 10; ++k) {
      CHECK(std::fabs(twenty.sigmas[2 * k] - pub[k]) < 1e-5 * pub[k]);
      CHECK(std::fabs(twenty.sigmas[2 * k + 1] - std::sqrt(pub[k] * pub[k + 1])) < 1e-5 * pub[k]);
    }
    CHECK(twenty.sigmas[20] == 0);
  }
  CHECK(ays_sigmas(AysFamily::Sd1)[1] != ays_sigmas(AysFamily::Sdxl)[1]);
}

TEST(custom_sigmas_are_validated) {
  auto s = custom_schedule(sd1(), {14.6f, 3.0f, 0.5f, 0.0f}, true);
  CHECK(s.steps() == 3 && s.timesteps[0] == 999 && s.timesteps[2] == std::nearbyint(float(sd1().sigma_to_t(0.5))));
  CHECK_THROWS_CODE(custom_schedule(sd1(), {1.0f}, false), ErrorCode::InvalidOption);
  CHECK_THROWS_CODE(custom_schedule(sd1(), {1.0f, 2.0f}, false), ErrorCode::InvalidOption);
  CHECK_THROWS_CODE(custom_schedule(sd1(), {1.0f, -1.0f}, false), ErrorCode::InvalidOption);
  CHECK_THROWS_CODE(custom_schedule(sd1(), {NAN, 0.0f}, false), ErrorCode::InvalidOption);
}

TEST(strength_keeps_the_last_steps_like_diffusers) {
  ScheduleOptions o;
  auto full = make_schedule(sd1(), 8, o);
  auto t = truncate_for_strength(full, 0.6);  // int(8 * 0.6) = 4 steps
  CHECK(t.steps() == 4 && t.sigmas.size() == 5 && t.sigmas[0] == full.sigmas[4] && t.timesteps[0] == full.timesteps[4]);
  CHECK(truncate_for_strength(full, 1.0).steps() == 8);
  CHECK_THROWS_CODE(truncate_for_strength(full, 0.1), ErrorCode::InvalidOption);  // int(0.8) = 0 steps
  CHECK_THROWS_CODE(truncate_for_strength(full, 0.0), ErrorCode::InvalidOption);
  CHECK_THROWS_CODE(truncate_for_strength(full, 1.5), ErrorCode::InvalidOption);
}

TEST(bad_names_and_step_counts_are_refused) {
  CHECK(parse_schedule_kind("karras") == ScheduleKind::Karras);
  CHECK(parse_schedule_kind("sgm_uniform") == ScheduleKind::SgmUniform);
  CHECK_THROWS_CODE(parse_schedule_kind("Karras2"), ErrorCode::InvalidOption);
  CHECK_THROWS_CODE(make_schedule(sd1(), 0, ScheduleOptions()), ErrorCode::InvalidOption);
  ScheduleOptions o;
  o.spacing = Spacing::Leading;
  CHECK_THROWS_CODE(make_schedule(sd1(), 2000, o), ErrorCode::InvalidOption);
}

static std::string read_text(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  std::string out;
  if (!f) return out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  std::fclose(f);
  return out;
}

TEST(diffusers_scheduler_configs_give_schedule_prediction_and_spacing) {
  const std::string dir = sdtest::fixtures_dir();
  auto c1 = parse_scheduler_config(read_text(dir + "/tiny-sd1/diffusers/scheduler/scheduler_config.json"));
  CHECK(!c1.prediction.has_value() && !c1.leading_spacing && c1.steps_offset == 1);
  CHECK(c1.schedule.sigmas == sd1().sigmas);
  auto c2 = parse_scheduler_config(read_text(dir + "/tiny-sd2/diffusers/scheduler/scheduler_config.json"));
  CHECK(c2.prediction == Prediction::V && !c2.leading_spacing);
  auto cx = parse_scheduler_config(read_text(dir + "/tiny-sdxl/diffusers/scheduler/scheduler_config.json"));
  CHECK(cx.prediction == Prediction::Epsilon && cx.leading_spacing);
  CHECK(default_scheduler_config().schedule.sigmas == sd1().sigmas);

  auto lin = parse_scheduler_config(R"({"beta_schedule":"linear","beta_start":0.0001,"beta_end":0.02})");
  CHECK(lin.schedule.betas.size() == 1000 && std::fabs(lin.schedule.betas[0] - 0.0001f) < 1e-9f &&
        std::fabs(lin.schedule.betas[999] - 0.02f) < 1e-8f && lin.steps_offset == 0);
  CHECK(parse_scheduler_config(R"({"timestep_spacing":"trailing"})").trailing_spacing);
  CHECK_THROWS_CODE(parse_scheduler_config(R"({"timestep_spacing":"sideways"})"), ErrorCode::ModelUnsupported);
  CHECK_THROWS_CODE(parse_scheduler_config("{"), ErrorCode::ModelFormat);
  CHECK_THROWS_CODE(parse_scheduler_config(R"({"beta_start":"x"})"), ErrorCode::ModelFormat);
  CHECK_THROWS_CODE(parse_scheduler_config(R"({"beta_start":0.1,"beta_end":0.01})"), ErrorCode::ModelFormat);
  CHECK_THROWS_CODE(parse_scheduler_config(R"({"beta_schedule":"squaredcos_cap_v2"})"), ErrorCode::ModelUnsupported);
  CHECK_THROWS_CODE(parse_scheduler_config(R"({"trained_betas":[0.1,0.2]})"), ErrorCode::ModelUnsupported);
  // The default "linear" 0.0001 .. 0.02 reaches alphas_cumprod < 2^-24 at t = 998: no increasing sigmas with zero terminal SNR.
  CHECK_THROWS_CODE(parse_scheduler_config(R"({"rescale_betas_zero_snr":true})"), ErrorCode::ModelUnsupported);
  CHECK_THROWS_CODE(parse_scheduler_config(R"({"prediction_type":"sample"})"), ErrorCode::ModelUnsupported);
  CHECK_THROWS_CODE(ModelSchedule::from_betas({0.5f, 1.5f}), ErrorCode::InvalidOption);
}
