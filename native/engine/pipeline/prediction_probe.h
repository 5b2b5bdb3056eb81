// SD 2.x comes as epsilon (512 "base") and v-prediction (768) models with the
// same architecture. When nothing says which (no scheduler config, no
// modelspec.prediction_type, no v_pred marker), the weights decide, as the
// most used web UI and stable-diffusion.cpp decide: one U-Net evaluation on
// a constant 8x8 latent of 0.5 at t = 999 with a two-token context of 0.5;
// mean(output - input) < -1 means v-prediction. Near pure noise an epsilon
// model predicts about its input (mean ~0), a v model about -x0 (well below).
#pragma once
#include "io/model_loader.h"

namespace sd {

// Settles info.prediction when detection only guessed it
// (info.prediction_guessed): SD 2.x by the probe above, an SD 2.x
// inpainting model (9 channels) as epsilon (its one release is). Other
// models keep their guess. Runs the U-Net on one thread: 1.2 s for SD 1.5's
// full-size U-Net on this project's 2-core Zen 1 (/tmp driver, session 9),
// plus reading the U-Net's weights once, which the first generate() would.
void settle_prediction(LoadedModel* model);

// The probe's statistic: mean(unet(0.5, t = 999, context 0.5) - 0.5).
double sd2_v_probe(const LoadedModel& model);

}  // namespace sd
