#include "models/vae.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "models/hparams.h"

namespace sd {

namespace {

constexpr float kVaeEps = 1e-6f;

VaeMidBlock bind_mid(const ModelWeights& w, const std::string& p, int groups) {
  VaeMidBlock m{VaeResBlock::bind(w, p + ".block_1", groups, kVaeEps), std::nullopt,
                VaeResBlock::bind(w, p + ".block_2", groups, kVaeEps)};
  if (w.has(p + ".attn_1.norm.weight")) m.attn_1 = VaeAttention::bind(w, p + ".attn_1", groups, kVaeEps);
  return m;
}

std::vector<VaeLevel> bind_levels(const ModelWeights& w, const std::string& p, int groups, bool encoder) {
  std::vector<VaeLevel> levels;
  for (int i = 0; w.has(p + "." + std::to_string(i) + ".block.0.conv1.weight"); ++i) {
    std::string lp = p + "." + std::to_string(i);
    VaeLevel l;
    for (int j = 0; w.has(lp + ".block." + std::to_string(j) + ".conv1.weight"); ++j)
      l.blocks.push_back(VaeResBlock::bind(w, lp + ".block." + std::to_string(j), groups, kVaeEps));
    if (encoder && w.has(lp + ".downsample.conv.weight"))
      l.downsample = Downsample::bind(w, lp + ".downsample.conv", /*asymmetric=*/true);
    if (!encoder && w.has(lp + ".upsample.conv.weight")) l.upsample = Upsample::bind(w, lp + ".upsample.conv");
    levels.push_back(std::move(l));
  }
  if (levels.empty()) fail(ErrorCode::ModelFormat, "vae: no " + p + ".0.block.0 weights");
  return levels;
}

}  // namespace

Tensor VaeMidBlock::forward(Compute& c, const Tensor& x) const {
  Tensor h = block_1.forward(c, x);
  if (attn_1) h = attn_1->forward(c, h);
  return block_2.forward(c, h);
}

Tensor VaeLevel::forward(Compute& c, const Tensor& x) const {
  Tensor h = x;
  for (const auto& b : blocks) h = b.forward(c, h);
  if (downsample) h = downsample->forward(c, h);  // [B, C, H/2, W/2]
  if (upsample) h = upsample->forward(c, h);      // [B, C, 2H, 2W]
  return h;
}

Tensor VaePosterior::sample(const Tensor& noise) const {
  if (noise.shape() != mean.shape())
    fail(ErrorCode::InvalidOption, "posterior noise must be " + shape_str(mean.shape()) + ", got " +
                                       shape_str(noise.shape()));
  Tensor n = noise.to_f32();
  Tensor out = Tensor::empty(DType::F32, mean.shape());  // [B, L, h, w]
  const float* m = mean.data_as<float>();
  const float* lv = logvar.data_as<float>();
  const float* e = n.data_as<float>();
  float* o = out.data_as<float>();
  for (int64_t i = 0; i < out.numel(); ++i) o[i] = m[i] + std::exp(0.5f * std::clamp(lv[i], -30.f, 20.f)) * e[i];
  return out;
}

VAE VAE::bind(const LoadedModel& model) {
  const ModelWeights& w = model.weights;
  ComponentConfig cfg = ComponentConfig::of(model, "vae");
  int groups = int(cfg.get_int("norm_num_groups", 32));
  VAE v;
  v.scaling_factor_ = float(cfg.get_number("scaling_factor", model.info.family == "sdxl" ? 0.13025 : 0.18215));

  v.dec_conv_in_ = Conv2d::bind(w, "vae.decoder.conv_in", 1, 1);
  v.latent_channels_ = int(v.dec_conv_in_.in());
  v.dec_mid_ = bind_mid(w, "vae.decoder.mid", groups);
  v.decoder_up_ = bind_levels(w, "vae.decoder.up", groups, /*encoder=*/false);
  v.dec_norm_out_ = GroupNorm::bind(w, "vae.decoder.norm_out", groups, kVaeEps);
  v.dec_conv_out_ = Conv2d::bind(w, "vae.decoder.conv_out", 1, 1);
  if (w.has("vae.post_quant_conv.weight")) {
    v.post_quant_conv_ = Linear::bind(w, "vae.post_quant_conv");
    expect_shape(v.post_quant_conv_->w, {v.latent_channels_, v.latent_channels_}, "vae.post_quant_conv.weight");
  }

  // The encoder is optional: decode-only VAE files exist.
  v.has_encoder_ = w.has("vae.encoder.conv_in.weight");
  if (v.has_encoder_) {
    v.enc_conv_in_ = Conv2d::bind(w, "vae.encoder.conv_in", 1, 1);
    v.encoder_down_ = bind_levels(w, "vae.encoder.down", groups, /*encoder=*/true);
    v.enc_mid_ = bind_mid(w, "vae.encoder.mid", groups);
    v.enc_norm_out_ = GroupNorm::bind(w, "vae.encoder.norm_out", groups, kVaeEps);
    v.enc_conv_out_ = Conv2d::bind(w, "vae.encoder.conv_out", 1, 1);
    expect_shape(v.enc_conv_out_.b, {2 * v.latent_channels_}, "vae.encoder.conv_out.bias");
    if (w.has("vae.quant_conv.weight")) {
      v.quant_conv_ = Linear::bind(w, "vae.quant_conv");
      expect_shape(v.quant_conv_->w, {2 * v.latent_channels_, 2 * v.latent_channels_}, "vae.quant_conv.weight");
    }
  }
  return v;
}

// A 1x1 conv over NCHW as a Linear over the channel axis.
static Tensor conv1x1(Compute& c, const Linear& l, const Tensor& x) {
  int64_t h = x.size(2), w = x.size(3);
  return tokens_to_nchw(c, l(c, nchw_to_tokens(c, x)), h, w);
}

Tensor VAE::encode_moments(Compute& c, const Tensor& image) const {
  if (!has_encoder_) fail(ErrorCode::ModelUnsupported, "this VAE has no encoder (img2img/inpainting need one)");
  int64_t f = downsample_factor();
  if (image.dim() != 4 || image.size(1) != enc_conv_in_.in() || image.size(2) % f || image.size(3) % f)
    fail(ErrorCode::InvalidOption, "vae encoder input must be [B, " + std::to_string(enc_conv_in_.in()) +
                                       ", H, W] with H, W multiples of " + std::to_string(f) + ", got " +
                                       shape_str(image.shape()));
  Tensor h = enc_conv_in_(c, image);  // [B, C0, H, W]
  for (const auto& l : encoder_down_) h = l.forward(c, h);
  h = enc_mid_.forward(c, h);                             // [B, Cn, H/f, W/f]
  h = enc_conv_out_(c, enc_norm_out_(c, h, /*silu=*/true));  // [B, 2L, H/f, W/f]
  if (quant_conv_) h = conv1x1(c, *quant_conv_, h);
  return h;
}

VaePosterior VAE::encode(Compute& c, const Tensor& image) const {
  Tensor m = encode_moments(c, image);  // [B, 2L, h, w]
  int64_t b = m.size(0), l = latent_channels_, plane = l * m.size(2) * m.size(3);
  VaePosterior p{Tensor::empty(DType::F32, {b, l, m.size(2), m.size(3)}),
                 Tensor::empty(DType::F32, {b, l, m.size(2), m.size(3)})};
  // moments.chunk(2, dim=1): first L channels mean, last L logvar.
  for (int64_t i = 0; i < b; ++i) {
    const float* src = m.data_as<float>() + i * 2 * plane;
    std::memcpy(p.mean.data_as<float>() + i * plane, src, size_t(plane) * 4);
    std::memcpy(p.logvar.data_as<float>() + i * plane, src + plane, size_t(plane) * 4);
  }
  return p;
}

Tensor VAE::decode(Compute& c, const Tensor& z) const {
  if (z.dim() != 4 || z.size(1) != latent_channels_)
    fail(ErrorCode::InvalidOption, "vae decoder input must be [B, " + std::to_string(latent_channels_) +
                                       ", h, w], got " + shape_str(z.shape()));
  Tensor h = post_quant_conv_ ? conv1x1(c, *post_quant_conv_, z) : z;  // [B, L, h, w]
  h = dec_conv_in_(c, h);                                            // [B, Cn, h, w]
  h = dec_mid_.forward(c, h);
  for (size_t i = decoder_up_.size(); i-- > 0;) h = decoder_up_[i].forward(c, h);
  return dec_conv_out_(c, dec_norm_out_(c, h, /*silu=*/true));  // [B, 3, f*h, f*w]
}

}  // namespace sd
