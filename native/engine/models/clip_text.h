// CLIP text encoder (HF CLIPTextModel layout under te1./te2. canonical names):
// token + position embedding, pre-LN transformer layers with causal
// self-attention, final layer norm, optional text_projection (SDXL te2).
// Width, depth, vocabulary and positions come from the weights; head count,
// activation and eps from the config (defaults: head dim 64, quick_gelu for
// te1 of SD 1.x/SDXL, gelu for SD 2.x and te2, eps 1e-5).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "models/layers.h"

namespace sd {

// Which output to produce.
struct ClipRequest {
  int skip = 1;            // 1: last layer, 2: penultimate (A1111 "CLIP skip"), ...
  bool final_norm = true;  // apply final_layer_norm to the selected layer
  bool pooled = false;     // also produce the pooled output (projected if text_projection exists)
};

struct ClipOutput {
  Tensor hidden;  // [B, S, D]
  Tensor pooled;  // [B, P] when requested: final_layer_norm(last layer) at the first EOS, projected
};

// One 77-token chunk of a prompt: BOS, up to 75 tokens, EOS, padding; and
// one emphasis weight per position (1 for BOS/EOS/padding).
struct PromptChunk {
  std::vector<int32_t> ids;
  std::vector<float> weights;
};

// One encoder layer (HF CLIPEncoderLayer).
struct ClipLayer {
  LayerNorm layer_norm1;                    // [D]
  Linear q_proj, k_proj, v_proj, out_proj;  // self_attn.*: [D, D]
  LayerNorm layer_norm2;                    // [D]
  Linear fc1;                               // mlp.fc1: [F, D]
  Linear fc2;                               // mlp.fc2: [D, F]
  // x [B, S, D] updated in place: x += attn(ln1(x)); x += mlp(ln2(x))
  void forward(Compute& c, Tensor& x, int heads, bool quick_gelu) const;
};

class ClipTextEncoder {
 public:
  // component: "te1" | "te2". Throws ERR_MODEL_FORMAT when weights are missing/inconsistent.
  static ClipTextEncoder bind(const LoadedModel& model, const std::string& component);

  // ids: batch * S token ids, row-major [B, S], S <= max_positions().
  ClipOutput encode(Compute& c, const std::vector<int32_t>& ids, int64_t batch, const ClipRequest& req) const;
  // hidden_states[0] = embeddings, [k] = output of layer k (no final norm): num_layers()+1 tensors [B, S, D].
  std::vector<Tensor> hidden_states(Compute& c, const std::vector<int32_t>& ids, int64_t batch) const;
  Tensor final_layer_norm(Compute& c, const Tensor& x) const { return final_norm_(c, x); }

  // Encodes each chunk, applies its emphasis weights (apply_token_weights)
  // and concatenates along the sequence: hidden [1, 77*n, D]; pooled from the first chunk.
  ClipOutput encode_chunks(Compute& c, const std::vector<PromptChunk>& chunks, const ClipRequest& req) const;
  // encode_chunks for several prompts (e.g. prompt and negative prompt) in
  // one encoder pass over all their chunks (equal chunk lengths); the same
  // results as one encode_chunks call per prompt.
  std::vector<ClipOutput> encode_prompts(Compute& c, const std::vector<std::vector<PromptChunk>>& prompts, const ClipRequest& req) const;

  int num_layers() const { return int(layers_.size()); }
  int64_t hidden_size() const { return final_norm_.gamma.size(0); }
  int64_t max_positions() const { return position_embedding_.size(0); }
  bool has_projection() const { return text_projection_.has_value(); }

 private:
  Tensor embed(Compute& c, const std::vector<int32_t>& ids, int64_t batch) const;  // -> [B, S, D]
  Tensor pool(Compute& c, const Tensor& last, const std::vector<int32_t>& ids, int64_t batch) const;

  Tensor token_embedding_;                 // embeddings.token_embedding.weight: [V, D] (stored dtype)
  Tensor extra_embedding_;                 // embeddings.token_embedding.extra: [n, D] f32, ids V..V+n-1 (textual inversion)
  Tensor position_embedding_;              // embeddings.position_embedding.weight: [P, D] (f32)
  std::vector<ClipLayer> layers_;          // encoder.layers.0..n-1
  LayerNorm final_norm_;                   // final_layer_norm: [D]
  std::optional<Linear> text_projection_;  // text_projection: [P, D], no bias
  int heads_ = 1;
  bool quick_gelu_ = true;
  int32_t eos_id_ = 49407;
};

// A1111 emphasis: hidden [1, S, D] *= weights[s] per token, then the whole
// tensor is rescaled so its mean equals the mean before weighting. All-ones
// weights leave it untouched.
void apply_token_weights(Compute& c, Tensor& hidden, const std::vector<float>& weights);

// The ClipRequest::skip that gives an SD 1.x / 2.x model its conditioning
// layer for the user's "CLIP skip" (1 = none). SD 2.x conditions on the
// penultimate layer of the OpenCLIP encoder; every loaded form already holds
// only the layers up to that one (the loader drops the last layer of a
// single file, as the diffusers conversion does), so the skip is the user's,
// checked (>= 1), whatever the model's family or form.
int conditioning_clip_skip(int user_clip_skip);

// SDXL conditioning: context = cat(te1 penultimate, te2 penultimate) on the
// channel axis (both WITHOUT final layer norm), pooled = te2's projected
// pooled output. chunks1/chunks2: the same prompt tokenized for each encoder
// (they differ only in the padding id). context [1, 77*n, D1+D2], pooled [1, P].
ClipOutput encode_sdxl(Compute& c, const ClipTextEncoder& te1, const ClipTextEncoder& te2, const std::vector<PromptChunk>& chunks1,
                       const std::vector<PromptChunk>& chunks2);

}  // namespace sd
