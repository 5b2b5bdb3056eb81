#include "sampling/scheduler_config.h"

#include "core/error.h"
#include "io/json.h"

namespace sd {

SchedulerConfig default_scheduler_config() {
  SchedulerConfig c;
  c.schedule = ModelSchedule::scaled_linear();
  return c;
}

SchedulerConfig parse_scheduler_config(const std::string& text) {
  Json j;
  try {
    j = Json::parse(text);
  } catch (const std::exception& e) {
    fail(ErrorCode::ModelFormat, std::string("scheduler_config.json: ") + e.what());
  }
  if (!j.is_object()) fail(ErrorCode::ModelFormat, "scheduler_config.json: not a JSON object");
  auto number = [&](const char* key, double fallback) {
    const Json* v = j.find(key);
    if (v == nullptr || v->is_null()) return fallback;
    if (!v->is_number()) fail(ErrorCode::ModelFormat, std::string("scheduler_config.json: ") + key + " must be a number");
    return v->as_number();
  };
  auto string = [&](const char* key, const char* fallback) {
    const Json* v = j.find(key);
    if (v == nullptr || v->is_null()) return std::string(fallback);
    if (!v->is_string()) fail(ErrorCode::ModelFormat, std::string("scheduler_config.json: ") + key + " must be a string");
    return v->as_string();
  };
  const Json* trained = j.find("trained_betas");
  if (trained != nullptr && !trained->is_null()) fail(ErrorCode::ModelUnsupported, "scheduler_config.json: trained_betas is not supported");
  const Json* zsnr = j.find("rescale_betas_zero_snr");
  if (zsnr != nullptr && !zsnr->is_null() && !zsnr->is_bool())
    fail(ErrorCode::ModelFormat, "scheduler_config.json: rescale_betas_zero_snr must be a boolean");

  const double b0 = number("beta_start", 0.0001), b1 = number("beta_end", 0.02), T = number("num_train_timesteps", 1000);
  if (!(T >= 2 && T <= 100000 && T == double(int(T))))
    fail(ErrorCode::ModelFormat, "scheduler_config.json: num_train_timesteps must be an integer >= 2");
  if (!(b0 > 0 && b1 > b0 && b1 < 1)) fail(ErrorCode::ModelFormat, "scheduler_config.json: need 0 < beta_start < beta_end < 1");
  const std::string kind = string("beta_schedule", "linear");
  SchedulerConfig c;
  if (kind == "scaled_linear") {
    c.schedule = ModelSchedule::scaled_linear(b0, b1, int(T));
  } else if (kind == "linear") {
    c.schedule = ModelSchedule::linear(b0, b1, int(T));
  } else {
    fail(ErrorCode::ModelUnsupported, "scheduler_config.json: beta_schedule '" + kind + "' is not supported (scaled_linear, linear)");
  }
  c.zero_terminal_snr = zsnr != nullptr && zsnr->is_bool() && zsnr->as_bool();
  if (c.zero_terminal_snr) c.schedule = c.schedule.zero_terminal_snr();
  const std::string pred = string("prediction_type", "");
  if (pred == "sample") fail(ErrorCode::ModelUnsupported, "scheduler_config.json: prediction_type 'sample' is not supported");
  if (!pred.empty()) {
    try {
      c.prediction = parse_prediction(pred);
    } catch (const Error&) {
      fail(ErrorCode::ModelUnsupported, "scheduler_config.json: unknown prediction_type '" + pred + "'");
    }
  }
  const std::string spacing = string("timestep_spacing", "linspace");
  if (spacing != "linspace" && spacing != "leading" && spacing != "trailing")
    fail(ErrorCode::ModelUnsupported, "scheduler_config.json: unknown timestep_spacing '" + spacing + "'");
  c.leading_spacing = spacing == "leading";
  c.trailing_spacing = spacing == "trailing";
  const double offset = number("steps_offset", 0);
  if (!(offset >= 0 && offset < T && offset == double(int(offset))))
    fail(ErrorCode::ModelFormat, "scheduler_config.json: steps_offset must be a small integer");
  c.steps_offset = int(offset);
  return c;
}

}  // namespace sd
