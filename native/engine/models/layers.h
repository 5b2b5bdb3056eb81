// The primitive layers every model is assembled from, bound to checkpoint
// weights by name prefix. Each is a thin, shape-checked wrapper over one op in
// kernels/ops.h; weights stay in their stored dtype (views into the file).
#pragma once
#include <string>

#include "io/model_loader.h"
#include "kernels/ops.h"

namespace sd {

// A run-time LoRA side path, y += up(down(x)), next to a weight that must not
// be modified (quantized base weights: lora/lora_merge.h). Present only on
// per-call overlay models, bound from "<prefix>" + kLoraSideDown / kLoraSideUp
// (f32; the LoRA multiplier scale * alpha / r is folded into up).
inline constexpr const char* kLoraSideDown = ".lora_side.down";  // [r, in] or [r, in, k, k]
inline constexpr const char* kLoraSideUp = ".lora_side.up";      // [out, r]
struct LowRankSide {
  Tensor down;  // Linear: [r, in]; Conv2d: [r, in, k, k] (same kernel as the weight)
  Tensor up;    // Linear: [out, r]; Conv2d: [out, r, 1, 1]
  // Undefined tensors when the overlay has no side path for `prefix`.
  static LowRankSide bind(const ModelWeights& wts, const std::string& prefix, const Tensor& w);
  bool active() const { return down.defined(); }
};

// torch.nn.Linear: y [..., out] = x [..., in] @ w^T + b.
// Also binds 1x1-conv weights [out, in, 1, 1] (LDM VAE attention) as [out, in].
struct Linear {
  Tensor w;  // [out, in]
  Tensor b;  // [out] or undefined (no bias)
  LowRankSide lora;
  static Linear bind(const ModelWeights& wts, const std::string& prefix, bool bias = true);
  int64_t in() const { return w.size(1); }
  int64_t out() const { return w.size(0); }
  Tensor operator()(Compute& c, const Tensor& x) const;
};

// torch.nn.Conv2d with square kernel 1 or 3.
struct Conv2d {
  Tensor w;  // [out, in, k, k]
  Tensor b;  // [out]
  LowRankSide lora;
  int stride = 1;
  int pad = 0;
  static Conv2d bind(const ModelWeights& wts, const std::string& prefix, int stride, int pad);
  int64_t in() const { return w.size(1); }
  int64_t out() const { return w.size(0); }
  Tensor operator()(Compute& c, const Tensor& x) const;  // x [B, in, H, W] -> [B, out, H', W']
  // The same with explicit (top, left, bottom, right) padding instead of `pad`.
  Tensor padded(Compute& c, const Tensor& x, int top, int left, int bottom, int right) const;
};

struct GroupNorm {
  Tensor gamma;  // [C]
  Tensor beta;   // [C]
  int groups = 32;
  float eps = 1e-5f;
  static GroupNorm bind(const ModelWeights& wts, const std::string& prefix, int groups, float eps);
  int64_t channels() const { return gamma.size(0); }
  // x [B, C, *spatial]; `silu` fuses the activation that follows every norm in the ResNets.
  // Statistics are x's own unless c.group_norm_stats supplies shared ones.
  Tensor operator()(Compute& c, const Tensor& x, bool silu = false) const;
  // The same for an activation the caller is done with: normalised in place
  // when nothing else holds its storage (one activation less alive), else copied.
  Tensor consume(Compute& c, Tensor x, bool silu = false) const;
};

struct LayerNorm {
  Tensor gamma;  // [C]
  Tensor beta;   // [C]
  float eps = 1e-5f;
  static LayerNorm bind(const ModelWeights& wts, const std::string& prefix, float eps);
  Tensor operator()(Compute& c, const Tensor& x) const;  // x [..., C]
};

// Throws ERR_MODEL_FORMAT when a weight's shape is not what the architecture needs.
void expect_shape(const Tensor& t, const Shape& want, const std::string& name);

}  // namespace sd
