// What a model says about its noise schedule: a diffusers
// scheduler/scheduler_config.json, or the SD defaults for single-file
// checkpoints (which carry no schedule).
#pragma once
#include <optional>
#include <string>

#include "sampling/denoiser.h"
#include "sampling/schedules.h"

namespace sd {

struct SchedulerConfig {
  ModelSchedule schedule;                // training betas -> sigmas
  std::optional<Prediction> prediction;  // when the config states prediction_type
  bool leading_spacing = false;          // timestep_spacing == "leading" (SDXL base)
  bool trailing_spacing = false;         // timestep_spacing == "trailing" (e.g. SDXL-Turbo)
  int steps_offset = 1;
  bool zero_terminal_snr = false;  // rescale_betas_zero_snr: `schedule` is already rescaled
};

// SD 1.x/2.x/SDXL training schedule: scaled_linear 0.00085 .. 0.012, T = 1000.
SchedulerConfig default_scheduler_config();

// Throws ERR_MODEL_FORMAT for malformed JSON or wrongly typed fields and
// ERR_MODEL_UNSUPPORTED for schedules this engine does not implement
// (beta_schedule other than scaled_linear/linear, trained_betas,
// prediction_type "sample"). rescale_betas_zero_snr: the schedule is
// ModelSchedule::zero_terminal_snr().
SchedulerConfig parse_scheduler_config(const std::string& json_text);

}  // namespace sd
