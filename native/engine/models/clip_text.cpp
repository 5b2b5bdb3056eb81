#include "models/clip_text.h"

#include <cmath>
#include <cstring>

#include "core/error.h"
#include "models/hparams.h"

namespace sd {

void ClipLayer::forward(Compute& c, Tensor& x, int heads, bool quick_gelu) const {
  Tensor h = layer_norm1(c, x);  // [B, S, D]
  Tensor q = q_proj(c, h);       // [B, S, D]
  Tensor k = k_proj(c, h);       // [B, S, D]
  Tensor v = v_proj(c, h);       // [B, S, D]
  float scale = 1.0f / std::sqrt(float(q_proj.out() / heads));
  h = out_proj(c, ops::attention(c, std::move(q), std::move(k), std::move(v), heads, /*causal=*/true, scale));  // [B, S, D]
  ops::add_(c, x, h);
  h = fc1(c, layer_norm2(c, x));  // [B, S, F]
  quick_gelu ? ops::quick_gelu_(c, h) : ops::gelu_(c, h);
  h = fc2(c, h);  // [B, S, D]
  ops::add_(c, x, h);
}

ClipTextEncoder ClipTextEncoder::bind(const LoadedModel& model, const std::string& component) {
  const ModelWeights& w = model.weights;
  ComponentConfig cfg = ComponentConfig::of(model, component);
  std::string p = component + ".text_model.";
  float eps = float(cfg.get_number("layer_norm_eps", 1e-5));
  ClipTextEncoder e;
  e.token_embedding_ = w.get(p + "embeddings.token_embedding.weight");
  const Tensor& pos = w.get(p + "embeddings.position_embedding.weight");
  e.final_norm_ = LayerNorm::bind(w, p + "final_layer_norm", eps);
  int64_t d = e.hidden_size();
  if (e.token_embedding_.dim() != 2 || e.token_embedding_.size(1) != d)
    fail(ErrorCode::ModelFormat, p + "embeddings.token_embedding.weight has shape " + shape_str(e.token_embedding_.shape()) +
                                     ", expected [V, " + std::to_string(d) + "]");
  if (pos.dim() != 2 || pos.size(1) != d)
    fail(ErrorCode::ModelFormat,
         p + "embeddings.position_embedding.weight has shape " + shape_str(pos.shape()) + ", expected [P, " + std::to_string(d) + "]");
  e.position_embedding_ = pos.to_f32();  // [P, D], small; added to activations
  // Textual-inversion vectors of this call (lora/embedding_file.h): ids V.. index them.
  if (const Tensor* extra = w.find(p + "embeddings.token_embedding.extra")) {
    if (extra->dim() != 2 || extra->size(1) != d)
      fail(ErrorCode::InvalidOption,
           "embedding vectors have shape " + shape_str(extra->shape()) + ", this encoder needs [n, " + std::to_string(d) + "]");
    e.extra_embedding_ = extra->to_f32();
  }

  for (int i = 0; w.has(p + "encoder.layers." + std::to_string(i) + ".layer_norm1.weight"); ++i) {
    std::string lp = p + "encoder.layers." + std::to_string(i) + ".";
    ClipLayer l;
    l.layer_norm1 = LayerNorm::bind(w, lp + "layer_norm1", eps);
    l.q_proj = Linear::bind(w, lp + "self_attn.q_proj");
    l.k_proj = Linear::bind(w, lp + "self_attn.k_proj");
    l.v_proj = Linear::bind(w, lp + "self_attn.v_proj");
    l.out_proj = Linear::bind(w, lp + "self_attn.out_proj");
    l.layer_norm2 = LayerNorm::bind(w, lp + "layer_norm2", eps);
    l.fc1 = Linear::bind(w, lp + "mlp.fc1");
    l.fc2 = Linear::bind(w, lp + "mlp.fc2");
    for (const Linear* a : {&l.q_proj, &l.k_proj, &l.v_proj, &l.out_proj}) expect_shape(a->w, {d, d}, lp + "self_attn.*_proj.weight");
    expect_shape(l.fc1.w, {l.fc1.out(), d}, lp + "mlp.fc1.weight");
    expect_shape(l.fc2.w, {d, l.fc1.out()}, lp + "mlp.fc2.weight");
    e.layers_.push_back(std::move(l));
  }
  if (e.layers_.empty()) fail(ErrorCode::ModelFormat, p + "encoder.layers.0 is missing");
  if (w.has(component + ".text_projection.weight")) {
    e.text_projection_ = Linear::bind(w, component + ".text_projection", /*bias=*/false);
    expect_shape(e.text_projection_->w, {e.text_projection_->out(), d}, component + ".text_projection.weight");
  }

  e.heads_ = int(cfg.get_int("num_attention_heads", std::max<int64_t>(1, d / 64)));
  if (e.heads_ <= 0 || d % e.heads_ != 0)
    fail(ErrorCode::ModelFormat,
         component + ": width " + std::to_string(d) + " does not split into " + std::to_string(e.heads_) + " heads");
  // OpenAI CLIP-L (te1 of SD 1.x and SDXL) uses quick_gelu; OpenCLIP (SD 2.x, SDXL te2) exact gelu.
  bool openclip = component == "te2" || model.info.family == "sd2";
  std::string act = cfg.get_string("hidden_act", openclip ? "gelu" : "quick_gelu");
  if (act != "gelu" && act != "quick_gelu") fail(ErrorCode::ModelUnsupported, component + ": unsupported hidden_act \"" + act + "\"");
  e.quick_gelu_ = act == "quick_gelu";
  e.eos_id_ = int32_t(cfg.get_int("eos_token_id", 49407));
  return e;
}

Tensor ClipTextEncoder::embed(Compute& c, const std::vector<int32_t>& ids, int64_t batch) const {
  if (batch <= 0 || ids.empty() || ids.size() % size_t(batch) != 0)
    fail(ErrorCode::InvalidOption, "token ids must be a non-empty [batch, length] array");
  int64_t s = int64_t(ids.size()) / batch, d = hidden_size(), vocab = token_embedding_.size(0);
  if (s > max_positions())
    fail(ErrorCode::InvalidOption,
         "token sequence of " + std::to_string(s) + " exceeds the encoder's " + std::to_string(max_positions()) + " positions");
  Tensor x = Tensor::empty(DType::F32, {batch, s, d});  // [B, S, D]
  const int64_t extra = extra_embedding_.data() ? extra_embedding_.size(0) : 0;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0 || ids[i] >= vocab + extra)
      fail(ErrorCode::InvalidOption, "token id " + std::to_string(ids[i]) + " is outside the vocabulary");
    Tensor row = ids[i] < vocab ? token_embedding_.slice_rows(ids[i], ids[i] + 1).to_f32()  // [1, D]
                                : extra_embedding_.slice_rows(ids[i] - vocab, ids[i] - vocab + 1);
    std::memcpy(x.data_as<float>() + int64_t(i) * d, row.data(), size_t(d) * 4);
  }
  ops::add_(c, x, position_embedding_.slice_rows(0, s));  // + [S, D] broadcast over B
  return x;
}

// final_layer_norm(last)[first EOS position], then text_projection if present.
Tensor ClipTextEncoder::pool(Compute& c, const Tensor& last, const std::vector<int32_t>& ids, int64_t batch) const {
  int64_t s = last.size(1), d = hidden_size();
  Tensor normed = final_norm_(c, last);                 // [B, S, D]
  Tensor rows = Tensor::empty(DType::F32, {batch, d});  // [B, D]
  for (int64_t b = 0; b < batch; ++b) {
    int64_t eos = 0;  // as the reference: argmax of (ids == eos), i.e. 0 when absent
    for (int64_t i = 0; i < s; ++i)
      if (ids[size_t(b * s + i)] == eos_id_) {
        eos = i;
        break;
      }
    std::memcpy(rows.data_as<float>() + b * d, normed.data_as<float>() + (b * s + eos) * d, size_t(d) * 4);
  }
  return text_projection_ ? (*text_projection_)(c, rows) : rows;  // [B, P]
}

std::vector<Tensor> ClipTextEncoder::hidden_states(Compute& c, const std::vector<int32_t>& ids, int64_t batch) const {
  std::vector<Tensor> out;
  Tensor x = embed(c, ids, batch);  // [B, S, D]
  out.push_back(x.to_f32());
  for (const auto& l : layers_) {
    l.forward(c, x, heads_, quick_gelu_);
    out.push_back(x.to_f32());
  }
  return out;
}

ClipOutput ClipTextEncoder::encode(Compute& c, const std::vector<int32_t>& ids, int64_t batch, const ClipRequest& req) const {
  if (req.skip < 1 || req.skip > num_layers())
    fail(ErrorCode::InvalidOption, "clip skip must be between 1 and " + std::to_string(num_layers()) + ", got " + std::to_string(req.skip));
  // Run up to the selected layer, or through all layers when pooling needs the last one.
  size_t selected = layers_.size() + 1 - size_t(req.skip);  // hidden_states index
  size_t run = req.pooled ? layers_.size() : selected;
  Tensor x = embed(c, ids, batch);  // [B, S, D]
  ClipOutput out;
  for (size_t i = 0; i < run; ++i) {
    if (i == selected) out.hidden = x.to_f32();  // keep a copy: later layers update x in place
    layers_[i].forward(c, x, heads_, quick_gelu_);
  }
  if (!out.hidden.defined()) out.hidden = x;
  if (req.final_norm) out.hidden = final_norm_(c, out.hidden);
  if (req.pooled) out.pooled = pool(c, x, ids, batch);
  return out;
}

ClipOutput ClipTextEncoder::encode_chunks(Compute& c, const std::vector<PromptChunk>& chunks, const ClipRequest& req) const {
  return encode_prompts(c, {chunks}, req)[0];
}

std::vector<ClipOutput> ClipTextEncoder::encode_prompts(Compute& c, const std::vector<std::vector<PromptChunk>>& prompts,
                                                        const ClipRequest& req) const {
  // One encoder pass over every chunk of every prompt: the GEMMs get all
  // chunks' rows at once (the weights are packed once, not once per chunk),
  // and each row's result is the same as encoding its chunk alone.
  std::vector<int32_t> ids;
  int64_t length = -1;
  for (const auto& chunks : prompts) {
    if (chunks.empty()) fail(ErrorCode::InvalidOption, "a prompt needs at least one token chunk");
    for (const auto& ch : chunks) {
      if (length >= 0 && int64_t(ch.ids.size()) != length) fail(ErrorCode::InvalidOption, "token chunks must have the same length");
      length = int64_t(ch.ids.size());
      ids.insert(ids.end(), ch.ids.begin(), ch.ids.end());
    }
  }
  const int64_t total = length > 0 ? int64_t(ids.size()) / length : 0;
  ClipOutput all = encode(c, ids, total, req);  // hidden [total, S, D], pooled [total, P]
  std::vector<ClipOutput> out;
  int64_t row = 0;
  for (const auto& chunks : prompts) {
    ClipOutput o;
    for (size_t i = 0; i < chunks.size(); ++i, ++row) {
      Tensor h = all.hidden.slice_rows(row, row + 1);  // [1, S, D], a view: rows are disjoint, so weighting in place is safe
      apply_token_weights(c, h, chunks[i].weights);
      o.hidden = i == 0 ? h : ops::concat(c, o.hidden, h, 1);                    // [1, S*(i+1), D]
      if (i == 0 && req.pooled) o.pooled = all.pooled.slice_rows(row, row + 1);  // [1, P]: the first chunk's
    }
    out.push_back(std::move(o));
  }
  return out;
}

static double mean_of(const Tensor& t) {
  double sum = 0;
  const float* p = t.data_as<float>();
  for (int64_t i = 0; i < t.numel(); ++i) sum += p[i];
  return sum / double(t.numel());
}

void apply_token_weights(Compute& c, Tensor& hidden, const std::vector<float>& weights) {
  if (hidden.dim() != 3 || hidden.size(0) != 1 || int64_t(weights.size()) != hidden.size(1))
    fail(ErrorCode::InvalidOption,
         "need one weight per token: " + std::to_string(weights.size()) + " weights for " + shape_str(hidden.shape()));
  bool all_one = true;
  for (float w : weights) all_one = all_one && w == 1.0f;
  if (all_one) return;
  int64_t s = hidden.size(1), d = hidden.size(2);
  Tensor per_token = Tensor::empty(DType::F32, {s, d});  // [S, D]: weights[s] repeated over D
  for (int64_t t = 0; t < s; ++t)
    for (int64_t j = 0; j < d; ++j) per_token.data_as<float>()[t * d + j] = weights[size_t(t)];
  double before = mean_of(hidden);
  ops::mul_(c, hidden, per_token);
  double after = mean_of(hidden);
  if (after != 0) ops::scale_(c, hidden, float(before / after));  // after == 0: nothing to rescale against
}

int conditioning_clip_skip(int user_clip_skip) {
  if (user_clip_skip < 1) fail(ErrorCode::InvalidOption, "clipSkip must be at least 1");
  // SD 2.x conditions on the penultimate OpenCLIP layer; the loader already
  // drops the last layer of single-file checkpoints (io/name_map.cpp), so
  // every form holds exactly the conditioning layers, as a diffusers folder
  // does, and the model need not be consulted.
  return user_clip_skip;
}

ClipOutput encode_sdxl(Compute& c, const ClipTextEncoder& te1, const ClipTextEncoder& te2, const std::vector<PromptChunk>& chunks1,
                       const std::vector<PromptChunk>& chunks2) {
  ClipRequest r1{/*skip=*/2, /*final_norm=*/false, /*pooled=*/false};
  ClipRequest r2{/*skip=*/2, /*final_norm=*/false, /*pooled=*/true};
  ClipOutput a = te1.encode_chunks(c, chunks1, r1);  // [1, 77n, D1]
  ClipOutput b = te2.encode_chunks(c, chunks2, r2);  // [1, 77n, D2], pooled [1, P]
  if (a.hidden.size(1) != b.hidden.size(1)) fail(ErrorCode::InvalidOption, "SDXL encoders got different chunk counts");
  return {ops::concat(c, a.hidden, b.hidden, 2), b.pooled};  // [1, 77n, D1+D2]
}

}  // namespace sd
