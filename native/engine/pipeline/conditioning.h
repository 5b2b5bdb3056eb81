// Text conditioning for one generate() call: runs the family's text
// encoder(s) on the prompt and negative prompt and lays the results out as
// the U-Net batch the sampler runs (rows [0, B) unconditional, [B, 2B)
// conditional when guided; only the conditional rows otherwise).
#pragma once
#include <optional>

#include "io/model_loader.h"
#include "kernels/ops.h"
#include "models/unet.h"
#include "pipeline/pipeline.h"

namespace sd {

struct Conditioning {
  Tensor context;                      // [R, 77*n, D] cross-attention context
  std::optional<UNetAddedCond> added;  // SDXL: text_embeds [R, P], time_ids [R, 6]
};

// guided: classifier-free guidance on (cfg_scale != 1), R = 2 * batch;
// otherwise R = batch and the negative prompt is not encoded.
Conditioning encode_conditioning(Compute& c, const LoadedModel& model, const GenerateParams& p, bool guided);

}  // namespace sd
