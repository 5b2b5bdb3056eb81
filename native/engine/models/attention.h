// Attention-family blocks: the U-Net's SpatialTransformer (LDM attention.py:
// CrossAttention, FeedForward with GEGLU, BasicTransformerBlock) and the VAE's
// single-head AttnBlock.
#pragma once
#include <string>
#include <vector>

#include "models/layers.h"

namespace sd {

// Multi-head attention of x over itself (context == nullptr) or over a context.
struct CrossAttention {
  Linear to_q;    // [inner, C], no bias
  Linear to_k;    // [inner, Cctx], no bias
  Linear to_v;    // [inner, Cctx], no bias
  Linear to_out;  // to_out.0: [C, inner]
  int heads = 1;
  static CrossAttention bind(const ModelWeights& w, const std::string& prefix, int heads);
  // x [B, N, C], context [B, S, Cctx] or nullptr (self-attention) -> [B, N, C];
  // x by value: released once projected.
  Tensor forward(Compute& c, Tensor x, const Tensor* context) const;
};

// net.0.proj: Linear to 2F then GEGLU (value * gelu(gate)); net.2: Linear back to C.
struct FeedForward {
  Linear proj_in;   // net.0.proj: [2F, C]
  Linear proj_out;  // net.2: [C, F]
  static FeedForward bind(const ModelWeights& w, const std::string& prefix);
  // [B, N, C] -> [B, N, C]; written into x's storage when x was moved in.
  Tensor forward(Compute& c, Tensor x) const;
};

// Pre-LN block: x += attn1(norm1(x)); x += attn2(norm2(x), ctx); x += ff(norm3(x)).
struct BasicTransformerBlock {
  LayerNorm norm1, norm2, norm3;  // [C] each
  CrossAttention attn1;           // self
  CrossAttention attn2;           // cross, over the text context
  FeedForward ff;
  static BasicTransformerBlock bind(const ModelWeights& w, const std::string& prefix, int heads);
  void forward(Compute& c, Tensor& x, const Tensor& context) const;  // x [B, N, C] updated in place
};

// GroupNorm -> proj_in -> transformer blocks over H*W tokens -> proj_out -> + x.
// proj_in/proj_out are 1x1 convs [C, C, 1, 1] (SD 1.x) or Linear [C, C]
// (SD 2.x / SDXL use_linear_projection); a 1x1 conv on NCHW equals a Linear
// on the [B, H*W, C] tokens, so both forms run as Linear after the transpose.
struct SpatialTransformer {
  GroupNorm norm;                             // [C], eps 1e-6
  Linear proj_in;                             // [C, C]
  std::vector<BasicTransformerBlock> blocks;  // transformer_blocks.0..depth-1
  Linear proj_out;                            // [C, C]
  static SpatialTransformer bind(const ModelWeights& w, const std::string& prefix, int groups, int heads);
  int64_t channels() const { return norm.channels(); }
  // x [B, C, H, W], context [B, S, Cctx] -> [B, C, H, W]
  Tensor forward(Compute& c, const Tensor& x, const Tensor& context) const;
};

// VAE mid-block attention (LDM AttnBlock): one head over H*W tokens, head dim
// C, scale 1/sqrt(C); q/k/v/proj_out stored as 1x1 convs [C, C, 1, 1].
struct VaeAttention {
  GroupNorm norm;   // [C]
  Linear q, k, v;   // [C, C]
  Linear proj_out;  // [C, C]
  static VaeAttention bind(const ModelWeights& w, const std::string& prefix, int groups, float eps);
  Tensor forward(Compute& c, const Tensor& x) const;  // [B, C, H, W] -> [B, C, H, W]
};

// [B, C, H, W] <-> [B, H*W, C]
Tensor nchw_to_tokens(Compute& c, const Tensor& x);
Tensor tokens_to_nchw(Compute& c, const Tensor& t, int64_t h, int64_t w);

}  // namespace sd
