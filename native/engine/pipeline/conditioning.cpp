#include "pipeline/conditioning.h"

#include <cstring>

#include "core/error.h"
#include "io/json.h"
#include "models/clip_text.h"

namespace sd {

namespace {

constexpr int32_t kEos = 49407;

std::vector<PromptChunk> to_chunks(const PromptTokens& tokens, const char* what) {
  if (tokens.chunks.empty()) fail(ErrorCode::InvalidOption, std::string(what) + " has no token chunks");
  std::vector<PromptChunk> out;
  for (const TokenChunk& t : tokens.chunks) {
    PromptChunk pc;
    pc.ids.assign(t.ids.begin(), t.ids.end());
    pc.weights.assign(t.weights.begin(), t.weights.end());
    out.push_back(std::move(pc));
  }
  return out;
}

// An empty prompt tokenizes to BOS, EOS, padding in every chunk.
bool is_empty_prompt(const PromptTokens& tokens) {
  for (const TokenChunk& t : tokens.chunks)
    if (t.ids[1] != kEos) return false;
  return true;
}

// diffusers' SDXL pipelines replace an empty negative prompt by zeros when the
// model says force_zeros_for_empty_prompt (true for SDXL base; a diffusers
// folder's model_index.json may say otherwise).
bool force_zeros_for_empty_prompt(const LoadedModel& model) {
  auto it = model.configs.find("model_index");
  if (it == model.configs.end()) return true;
  Json root = Json::parse(it->second, 32);
  const Json* v = root.find("force_zeros_for_empty_prompt");
  return v && v->is_bool() ? v->as_bool() : true;
}

// Repeats the rows of `uncond` and `cond` ([1, ...] each) into the U-Net batch
// [R, ...]: uncond x batch then cond x batch (guided), or cond x batch.
Tensor batch_rows(const Tensor* uncond, const Tensor& cond, int64_t batch) {
  Shape shape = cond.shape();
  const int64_t rows = (uncond ? 2 : 1) * batch;
  shape[0] = rows;
  Tensor out = Tensor::empty(DType::F32, shape);
  const size_t row_bytes = size_t(cond.numel()) * sizeof(float);
  char* dst = static_cast<char*>(out.data());
  int64_t r = 0;
  if (uncond)
    for (int64_t i = 0; i < batch; ++i) std::memcpy(dst + (r++) * row_bytes, uncond->data(), row_bytes);
  for (int64_t i = 0; i < batch; ++i) std::memcpy(dst + (r++) * row_bytes, cond.data(), row_bytes);
  return out;
}

Tensor zeros_like(const Tensor& t) { return Tensor::zeros(DType::F32, t.shape()); }

}  // namespace

Conditioning encode_conditioning(Compute& c, const LoadedModel& model, const GenerateParams& p, bool guided) {
  const int64_t batch = p.batch_size;
  Conditioning out;
  if (model.info.family != "sdxl") {
    ClipTextEncoder te = ClipTextEncoder::bind(model, "te1");
    ClipRequest req;
    req.skip = conditioning_clip_skip(p.clip_skip);
    if (!guided) {
      ClipOutput pos = te.encode_chunks(c, to_chunks(p.prompt, "prompt"), req);  // [1, 77n, D]
      out.context = batch_rows(nullptr, pos.hidden, batch);
      return out;
    }
    std::vector<PromptChunk> pos_chunks = to_chunks(p.prompt, "prompt"), neg_chunks = to_chunks(p.negative_prompt, "negativePrompt");
    if (neg_chunks.size() != pos_chunks.size())
      fail(ErrorCode::InvalidOption, "prompt and negative prompt must have the same number of token chunks");
    std::vector<ClipOutput> both = te.encode_prompts(c, {pos_chunks, neg_chunks}, req);  // one pass over both prompts
    const ClipOutput &pos = both[0], &neg = both[1];                                     // hidden [1, 77n, D] each
    out.context = batch_rows(&neg.hidden, pos.hidden, batch);                            // [2B, 77n, D]
    return out;
  }

  // SDXL: both encoders, plus pooled text embedding and size/crop time ids.
  ClipTextEncoder te1 = ClipTextEncoder::bind(model, "te1");
  ClipTextEncoder te2 = ClipTextEncoder::bind(model, "te2");
  ClipOutput pos = encode_sdxl(c, te1, te2, to_chunks(p.prompt, "prompt"), to_chunks(p.prompt_te2, "prompt (te2)"));
  Tensor time_ids = Tensor::empty(DType::F32, {1, 6});  // [1, 6] orig_h, orig_w, crop_top, crop_left, target_h, target_w
  const float ids[6] = {float(p.height), float(p.width), 0.f, 0.f, float(p.height), float(p.width)};
  std::memcpy(time_ids.data(), ids, sizeof(ids));
  UNetAddedCond added;
  if (!guided) {
    out.context = batch_rows(nullptr, pos.hidden, batch);
    added.text_embeds = batch_rows(nullptr, pos.pooled, batch);
    added.time_ids = batch_rows(nullptr, time_ids, batch);
    out.added = std::move(added);
    return out;
  }
  ClipOutput neg;
  if (is_empty_prompt(p.negative_prompt) && force_zeros_for_empty_prompt(model)) {
    neg.hidden = zeros_like(pos.hidden);
    neg.pooled = zeros_like(pos.pooled);
  } else {
    neg =
        encode_sdxl(c, te1, te2, to_chunks(p.negative_prompt, "negativePrompt"), to_chunks(p.negative_prompt_te2, "negativePrompt (te2)"));
  }
  if (neg.hidden.shape() != pos.hidden.shape())
    fail(ErrorCode::InvalidOption, "prompt and negative prompt must have the same number of token chunks");
  out.context = batch_rows(&neg.hidden, pos.hidden, batch);        // [2B, 77n, D1+D2]
  added.text_embeds = batch_rows(&neg.pooled, pos.pooled, batch);  // [2B, P]
  added.time_ids = batch_rows(&time_ids, time_ids, batch);         // [2B, 6]
  out.added = std::move(added);
  return out;
}

}  // namespace sd
