// Conditioning embeddings of the U-Net: the timestep MLP (LDM time_embed) and
// SDXL's "text_time" added conditioning (LDM label_emb).
#pragma once
#include <string>

#include "models/layers.h"

namespace sd {

// Linear -> SiLU -> Linear, LDM `<prefix>.0` / `<prefix>.2`
// (time_embed: [E, model_channels], [E, E]; label_emb.0: [E, adm_in], [E, E]).
struct EmbeddingMlp {
  Linear linear_1;  // <prefix>.0: [E, in]
  Linear linear_2;  // <prefix>.2: [E, E]
  static EmbeddingMlp bind(const ModelWeights& w, const std::string& prefix);
  Tensor forward(Compute& c, const Tensor& x) const;  // [B, in] -> [B, E]
};

// Sinusoidal timestep features as diffusers' Timesteps module computes them.
struct SinusoidalParams {
  bool flip_sin_to_cos = true;  // [cos, sin] order
  float freq_shift = 0.f;
};

// t [B] (f32) -> [B, dim]
Tensor timestep_features(const Tensor& t, int dim, const SinusoidalParams& p);

// SDXL text_time: each of the 6 time ids (orig h, orig w, crop top, crop left,
// target h, target w) -> sinusoid of `time_dim`, flattened in that order and
// appended AFTER the pooled text embedding.
// text_embeds [B, P], time_ids [B, 6] -> [B, P + 6*time_dim]
Tensor text_time_features(Compute& c, const Tensor& text_embeds, const Tensor& time_ids, int time_dim, const SinusoidalParams& p);

}  // namespace sd
