// run_generate() with its random source injectable and the final latents
// exposed: what reference tests need to replay the reference's exact draws.
#pragma once
#include "pipeline/pipeline.h"
#include "pipeline/random_source.h"

namespace sd {

// final_latents (optional): receives the sampled latents [B, L, h, w] before
// the VAE scaling is undone.
void generate_with(const LoadedModel& model, const GenerateParams& p, Callbacks& cb, RandomSource& rng, GenerateResult* result,
                   Tensor* final_latents = nullptr);

}  // namespace sd
