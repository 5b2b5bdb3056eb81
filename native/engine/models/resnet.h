// ResNet-family blocks shared by the U-Net and the VAE (LDM
// openaimodel.ResBlock / Downsample / Upsample and the VAE's ResnetBlock).
#pragma once
#include <optional>
#include <string>

#include "models/layers.h"

namespace sd {

// U-Net ResBlock with timestep conditioning (LDM names under `prefix`):
//   h = in_layers.2(silu(in_layers.0(x)))            GroupNorm + conv3x3
//   h += emb_layers.1(silu(emb))  per (batch, channel)
//   h = out_layers.3(silu(out_layers.0(h)))          GroupNorm + conv3x3
//   return skip_connection(x) + h                    1x1 conv when channels change
struct UNetResBlock {
  GroupNorm in_norm;           // in_layers.0: [Cin]
  Conv2d in_conv;              // in_layers.2: [Cout, Cin, 3, 3]
  Linear emb_proj;             // emb_layers.1: [Cout, E]
  GroupNorm out_norm;          // out_layers.0: [Cout]
  Conv2d out_conv;             // out_layers.3: [Cout, Cout, 3, 3]
  std::optional<Conv2d> skip;  // skip_connection: [Cout, Cin, 1, 1]
  static UNetResBlock bind(const ModelWeights& w, const std::string& prefix, int groups, float eps);
  // x [B, Cin, H, W]; emb_act = silu(time embedding) [B, E] -> [B, Cout, H, W]
  // x by value: with a skip conv (the decoder's concatenated inputs) it is
  // normalised in place once the skip path has read it.
  Tensor forward(Compute& c, Tensor x, const Tensor& emb_act) const;
};

// VAE ResnetBlock (no time embedding): norm1, conv1, norm2, conv2, nin_shortcut.
struct VaeResBlock {
  GroupNorm norm1;                     // [Cin]
  Conv2d conv1;                        // [Cout, Cin, 3, 3]
  GroupNorm norm2;                     // [Cout]
  Conv2d conv2;                        // [Cout, Cout, 3, 3]
  std::optional<Conv2d> nin_shortcut;  // [Cout, Cin, 1, 1]
  static VaeResBlock bind(const ModelWeights& w, const std::string& prefix, int groups, float eps);
  // [B, Cin, H, W] -> [B, Cout, H, W]; x by value: with a shortcut conv it is
  // normalised in place (moved in, it is not kept alive next to its copy).
  Tensor forward(Compute& c, Tensor x) const;
};

// Downsample by 2 with a strided conv3x3. U-Net: symmetric pad 1 (LDM `op`).
// VAE encoder: pad (left 0, right 1, top 0, bottom 1) then pad 0, as LDM does.
struct Downsample {
  Conv2d conv;  // [C, C, 3, 3]
  bool asymmetric = false;
  static Downsample bind(const ModelWeights& w, const std::string& prefix, bool asymmetric);
  Tensor forward(Compute& c, const Tensor& x) const;  // [B, C, H, W] -> [B, C, H/2, W/2]
};

// Nearest-neighbour x2 then conv3x3 pad 1 (LDM `conv`).
struct Upsample {
  Conv2d conv;  // [C, C, 3, 3]
  static Upsample bind(const ModelWeights& w, const std::string& prefix);
  Tensor forward(Compute& c, const Tensor& x) const;  // [B, C, H, W] -> [B, C, 2H, 2W]
  // [B, C, H, W] -> [B, C, Ho, Wo]: the U-Net's upsample meets its skip's
  // size, 2H - 1 where the way down halved an odd size (diffusers'
  // forward_upsample_size).
  Tensor forward_to(Compute& c, const Tensor& x, int64_t Ho, int64_t Wo) const;
  // forward() in bands of output rows when the upsampled map would exceed
  // band_bytes (forward: kBandBytes; tests pass small values).
  static constexpr int64_t kBandBytes = 32ll << 20;
  Tensor forward_banded(Compute& c, const Tensor& x, int64_t band_bytes) const;
};

}  // namespace sd
