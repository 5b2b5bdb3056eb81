// The KL autoencoder (LDM AutoencoderKL), bound to LDM weight names
// (vae.encoder.*, vae.decoder.*, vae.quant_conv, vae.post_quant_conv).
// Levels, channels and blocks per level are read from the weights; the group
// count from the config (default 32). GroupNorm eps is 1e-6 throughout.
// The latent scaling factor is NOT applied here (see scaling_factor()).
#pragma once
#include <functional>
#include <optional>
#include <vector>

#include "models/attention.h"
#include "models/resnet.h"

namespace sd {

// encoder.mid / decoder.mid: block_1, attn_1, block_2.
struct VaeMidBlock {
  VaeResBlock block_1;
  std::optional<VaeAttention> attn_1;
  VaeResBlock block_2;
  // x is taken by value so it is released as soon as block_1 is done with it.
  Tensor forward(Compute& c, Tensor x) const;  // [B, C, H, W] -> same
};

// encoder.down.i / decoder.up.i: ResnetBlocks then an optional resampler.
struct VaeLevel {
  std::vector<VaeResBlock> blocks;
  std::optional<Downsample> downsample;        // encoder
  std::optional<Upsample> upsample;            // decoder
  Tensor forward(Compute& c, Tensor x) const;  // by value: released after the first block
};

// The diagonal Gaussian the encoder predicts.
struct VaePosterior {
  Tensor mean;    // [B, L, h, w]
  Tensor logvar;  // [B, L, h, w], unclamped
  // mean + exp(0.5 * clamp(logvar, -30, 20)) * noise; noise [B, L, h, w] N(0,1)
  // comes from the caller's generator (the pipeline owns the draw order).
  Tensor sample(const Tensor& noise) const;
};

class VAE {
 public:
  // Throws ERR_MODEL_FORMAT when weights are missing or inconsistent.
  static VAE bind(const LoadedModel& model);

  // image [B, 3, H, W] in [-1, 1], H and W multiples of 8 (2^levels-1) ->
  // moments [B, 2L, H/8, W/8] = quant_conv(encoder(image)).
  Tensor encode_moments(Compute& c, const Tensor& image) const;
  VaePosterior encode(Compute& c, const Tensor& image) const;
  // z [B, L, h, w] raw latent (pipeline latent / scaling_factor) -> image [B, 3, 8h, 8w], unclamped.
  // decode = decode_out(decode_up(decode_head(z))).
  Tensor decode(Compute& c, const Tensor& z) const;
  // The decoder in three parts (tiled decodes run them separately):
  // z [B, L, h, w] -> post_quant_conv, conv_in, mid block -> [B, Cn, h, w];
  Tensor decode_head(Compute& c, const Tensor& z) const;
  // [B, Cn, h, w] -> the up levels -> [B, C0, f*h, f*w];
  Tensor decode_up(Compute& c, Tensor x) const;
  // [B, C0, H, W] -> norm_out, SiLU, conv_out -> image [B, 3, H, W].
  Tensor decode_out(Compute& c, Tensor x) const;

  // Decodes overlapping latent tiles of `tile` x `tile` (overlap `overlap`,
  // both in latent pixels) one at a time and blends them with linear ramps
  // across the overlaps, so peak activation memory follows the tile size,
  // not the image size. The latent-resolution head (decode_head) runs whole;
  // the up path in tiles, twice: the first pass accumulates every GroupNorm's
  // statistics over the whole map (models/group_norm_session.h), the second
  // decodes with them. Not bit-equal to decode(): those statistics are
  // gathered downstream of tile-local ones, and convolutions see zero padding
  // at tile edges. Latents no larger than a tile are decoded whole.
  // `before_tile` runs before each tile of both passes (the pipeline polls
  // for cancellation there: a large tiled decode takes minutes).
  Tensor decode_tiled(Compute& c, const Tensor& z, int tile = 64, int overlap = 16,
                      const std::function<void()>& before_tile = nullptr) const;
  // Rough peak of the activations decode() holds for one h x w latent: six
  // f32 feature maps of the first level's width at full resolution (around
  // the last upsample: its input and output at twice that width, a
  // ResBlock's norm and conv outputs). SD's VAE at 512x512: 805 MB estimated,
  // ~750 MB measured. Decides automatic tiling.
  int64_t decode_activation_bytes(int64_t h, int64_t w) const;

  bool has_encoder() const { return has_encoder_; }
  int latent_channels() const { return latent_channels_; }
  int downsample_factor() const { return 1 << int(decoder_up_.size() - 1); }
  // Pipeline latent = VAE latent * scaling_factor: config, else 0.13025 for
  // SDXL and 0.18215 otherwise.
  float scaling_factor() const { return scaling_factor_; }

 private:
  // encoder
  Conv2d enc_conv_in_;                  // encoder.conv_in: [C0, 3, 3, 3]
  std::vector<VaeLevel> encoder_down_;  // encoder.down.0..n-1
  VaeMidBlock enc_mid_;                 // encoder.mid
  GroupNorm enc_norm_out_;              // encoder.norm_out: [Cn]
  Conv2d enc_conv_out_;                 // encoder.conv_out: [2L, Cn, 3, 3]
  std::optional<Linear> quant_conv_;    // quant_conv: [2L, 2L, 1, 1]
  // decoder
  std::optional<Linear> post_quant_conv_;  // post_quant_conv: [L, L, 1, 1]
  Conv2d dec_conv_in_;                     // decoder.conv_in: [Cn, L, 3, 3]
  VaeMidBlock dec_mid_;                    // decoder.mid
  std::vector<VaeLevel> decoder_up_;       // decoder.up.0..n-1 (run from n-1 down to 0)
  GroupNorm dec_norm_out_;                 // decoder.norm_out: [C0]
  Conv2d dec_conv_out_;                    // decoder.conv_out: [3, C0, 3, 3]
  bool has_encoder_ = false;
  int latent_channels_ = 0;
  float scaling_factor_ = 0.18215f;
};

}  // namespace sd
