#include "models/embeddings.h"

#include "core/error.h"

namespace sd {

EmbeddingMlp EmbeddingMlp::bind(const ModelWeights& w, const std::string& p) {
  EmbeddingMlp m;
  m.linear_1 = Linear::bind(w, p + ".0");
  m.linear_2 = Linear::bind(w, p + ".2");
  expect_shape(m.linear_2.w, {m.linear_1.out(), m.linear_1.out()}, p + ".2.weight");
  return m;
}

Tensor EmbeddingMlp::forward(Compute& c, const Tensor& x) const {
  Tensor h = linear_1(c, x);  // [B, E]
  ops::silu_(c, h);
  return linear_2(c, h);  // [B, E]
}

Tensor timestep_features(const Tensor& t, int dim, const SinusoidalParams& p) {
  return ops::timestep_embedding(t, dim, p.flip_sin_to_cos, p.freq_shift);
}

Tensor text_time_features(Compute& c, const Tensor& text_embeds, const Tensor& time_ids, int time_dim, const SinusoidalParams& p) {
  int64_t b = text_embeds.size(0);
  if (text_embeds.dim() != 2 || time_ids.shape() != Shape{b, 6})
    fail(ErrorCode::InvalidOption, "SDXL conditioning needs text_embeds [B, P] and time_ids [B, 6], got " + shape_str(text_embeds.shape()) +
                                       " and " + shape_str(time_ids.shape()));
  Tensor ids = time_ids.to_f32().reshape({b * 6});                                // [B*6]
  Tensor feats = timestep_features(ids, time_dim, p).reshape({b, 6 * time_dim});  // [B, 6*time_dim]
  return ops::concat(c, text_embeds.to_f32(), feats, 1);                          // [B, P + 6*time_dim]
}

}  // namespace sd
