// The diffusion U-Net of SD 1.x, 2.x and SDXL, bound to the original LDM
// weight names (unet.input_blocks.N.M / middle_block / output_blocks.N.M).
// The architecture is read from the weights: which input/output blocks
// exist, their channels, downsample/upsample positions, transformer depth,
// context width, conv vs linear projection, inpainting (9-channel conv_in),
// SDXL label_emb. The config (if any) supplies what shapes cannot tell.
#pragma once
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "models/attention.h"
#include "models/embeddings.h"
#include "models/resnet.h"

namespace sd {

// One LDM TimestepEmbedSequential: an input block (ResBlock [+ transformer] or
// a Downsample), the middle block (ResBlock, transformer, ResBlock) or an
// output block (ResBlock [+ transformer] [+ Upsample]).
struct UNetStage {
  std::optional<UNetResBlock> res;
  std::optional<SpatialTransformer> attn;
  std::optional<UNetResBlock> res2;  // middle_block.2
  std::optional<Downsample> down;
  std::optional<Upsample> up;
  // x [B, C, H, W], emb_act [B, E], context [B, S, D] -> [B, C', H', W'].
  // x by value: released as soon as the ResBlock is done with it. An
  // upsample meets next_skip's size (2H, or 2H - 1 after an odd size was
  // halved on the way down); without one it doubles.
  Tensor forward(Compute& c, Tensor x, const Tensor& emb_act, const Tensor& context, const Tensor* next_skip = nullptr) const;
};

// SDXL added conditioning ("text_time").
struct UNetAddedCond {
  Tensor text_embeds;  // [B, P] pooled, projected text embedding (te2)
  Tensor time_ids;     // [B, 6] orig_h, orig_w, crop_top, crop_left, target_h, target_w
};

class UNet {
 public:
  // Intermediate outputs by LDM name ("time_embed", "label_emb", "input_blocks.N",
  // "middle_block", "output_blocks.N", "out") for debugging and tests.
  using Probe = std::function<void(const std::string& name, const Tensor& value)>;

  // Throws ERR_MODEL_FORMAT when weights are missing or inconsistent.
  static UNet bind(const LoadedModel& model);

  // x [B, Cin, H, W] (Cin = 9 for inpainting models: latent, mask, masked-image
  // latent, concatenated by the caller); t [B] or a single value for the whole
  // batch (float timesteps, 0..999); context [B, S, D]; added: SDXL only.
  // Returns the model output [B, Cout, H, W] (epsilon or v, per the model).
  Tensor forward(Compute& c, const Tensor& x, const Tensor& t, const Tensor& context, const UNetAddedCond* added = nullptr,
                 const Probe* probe = nullptr) const;

  int in_channels() const { return in_channels_; }
  int out_channels() const { return out_channels_; }
  int context_dim() const { return context_dim_; }
  bool is_inpaint() const { return in_channels_ == 9; }
  bool has_text_time() const { return label_emb_.has_value(); }
  int pooled_dim() const { return pooled_dim_; }          // SDXL: P in text_embeds [B, P]
  int model_channels() const { return model_channels_; }  // C0: the first level's width

 private:
  Conv2d conv_in_;                         // input_blocks.0.0: [C0, Cin, 3, 3]
  EmbeddingMlp time_embed_;                // time_embed: [E, C0], [E, E]
  std::optional<EmbeddingMlp> label_emb_;  // label_emb.0: [E, adm_in], [E, E] (SDXL)
  std::vector<UNetStage> input_blocks_;    // input_blocks.1..N
  UNetStage middle_block_;                 // middle_block.0..2
  std::vector<UNetStage> output_blocks_;   // output_blocks.0..N
  GroupNorm out_norm_;                     // out.0: [C0]
  Conv2d out_conv_;                        // out.2: [Cout, C0, 3, 3]
  SinusoidalParams sinusoid_;
  int model_channels_ = 0;  // C0: sinusoid width of the timestep
  int in_channels_ = 0, out_channels_ = 0, context_dim_ = 0;
  int addition_time_embed_dim_ = 0, pooled_dim_ = 0;
};

}  // namespace sd
