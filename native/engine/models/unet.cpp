#include "models/unet.h"

#include <utility>

#include "core/error.h"
#include "models/hparams.h"

namespace sd {

namespace {

// What the config (or, without one, the SD convention) says about a level.
struct UNetHParams {
  const ComponentConfig& cfg;
  int groups;
  float eps;

  // diffusers' attention_head_dim / num_attention_heads is the NUMBER of heads
  // per down level (reversed for up blocks, last entry for the middle block).
  // Without a config: SD 1.x (conv projection) uses 8 heads, SD 2.x / SDXL
  // (linear projection) a head dim of 64.
  int heads(size_t level, int64_t channels, bool linear_projection) const {
    int64_t fallback = linear_projection ? channels / 64 : 8;
    const char* key = cfg.get_int_at("num_attention_heads", level, 0) > 0 ? "num_attention_heads" : "attention_head_dim";
    int64_t h = cfg.get_int_at(key, level, fallback);
    if (h <= 0) fail(ErrorCode::ModelFormat, "unet: invalid number of attention heads at level " + std::to_string(level));
    return int(h);
  }
};

bool is_linear_projection(const ModelWeights& w, const std::string& attn_prefix) {
  return w.get(attn_prefix + ".proj_in.weight").dim() == 2;
}

std::optional<SpatialTransformer> bind_attn(const ModelWeights& w, const std::string& p, const UNetHParams& hp, size_t level) {
  if (!w.has(p + ".norm.weight")) return std::nullopt;
  int64_t ch = w.get(p + ".norm.weight").size(0);
  return SpatialTransformer::bind(w, p, hp.groups, hp.heads(level, ch, is_linear_projection(w, p)));
}

void probe_out(const UNet::Probe* probe, const std::string& name, const Tensor& t) {
  if (probe) (*probe)(name, t);
}

}  // namespace

Tensor UNetStage::forward(Compute& c, Tensor x, const Tensor& emb_act, const Tensor& context, const Tensor* next_skip) const {
  if (down) return down->forward(c, x);
  Tensor h = res->forward(c, std::move(x), emb_act);  // [B, C', H, W]
  if (attn) h = attn->forward(c, h, context);
  if (res2) h = res2->forward(c, h, emb_act);
  if (up) h = next_skip ? up->forward_to(c, h, next_skip->size(2), next_skip->size(3)) : up->forward(c, h);  // [B, C', ~2H, ~2W]
  return h;
}

UNet UNet::bind(const LoadedModel& model) {
  const ModelWeights& w = model.weights;
  ComponentConfig cfg = ComponentConfig::of(model, "unet");
  UNetHParams hp{cfg, int(cfg.get_int("norm_num_groups", 32)), float(cfg.get_number("norm_eps", 1e-5))};
  UNet u;
  u.conv_in_ = Conv2d::bind(w, "unet.input_blocks.0.0", 1, 1);
  u.in_channels_ = int(u.conv_in_.in());
  u.model_channels_ = int(u.conv_in_.out());
  u.time_embed_ = EmbeddingMlp::bind(w, "unet.time_embed");
  expect_shape(u.time_embed_.linear_1.w, {u.time_embed_.linear_1.out(), u.model_channels_}, "unet.time_embed.0.weight");
  u.sinusoid_.flip_sin_to_cos = cfg.get_bool("flip_sin_to_cos", true);
  u.sinusoid_.freq_shift = float(cfg.get_number("freq_shift", 0));

  if (w.has("unet.label_emb.0.0.weight")) {
    u.label_emb_ = EmbeddingMlp::bind(w, "unet.label_emb.0");
    u.addition_time_embed_dim_ = int(cfg.get_int("addition_time_embed_dim", 256));  // SDXL: 256
    u.pooled_dim_ = int(u.label_emb_->linear_1.in()) - 6 * u.addition_time_embed_dim_;
    if (u.pooled_dim_ <= 0)
      fail(ErrorCode::ModelFormat, "unet.label_emb.0.0.weight: input width " + std::to_string(u.label_emb_->linear_1.in()) +
                                       " is too small for 6 time ids of " + std::to_string(u.addition_time_embed_dim_));
  }

  // input_blocks.1..: ResBlock [+ SpatialTransformer], or a Downsample (`op`).
  size_t level = 0;
  for (int n = 1;; ++n) {
    std::string p = "unet.input_blocks." + std::to_string(n);
    UNetStage s;
    if (w.has(p + ".0.op.weight")) {
      s.down = Downsample::bind(w, p + ".0.op", /*asymmetric=*/false);
      ++level;
    } else if (w.has(p + ".0.in_layers.0.weight")) {
      s.res = UNetResBlock::bind(w, p + ".0", hp.groups, hp.eps);
      s.attn = bind_attn(w, p + ".1", hp, level);
    } else {
      break;
    }
    u.input_blocks_.push_back(std::move(s));
  }
  if (u.input_blocks_.empty()) fail(ErrorCode::ModelFormat, "unet: no input_blocks");

  u.middle_block_.res = UNetResBlock::bind(w, "unet.middle_block.0", hp.groups, hp.eps);
  u.middle_block_.attn = bind_attn(w, "unet.middle_block.1", hp, level);
  u.middle_block_.res2 = UNetResBlock::bind(w, u.middle_block_.attn ? "unet.middle_block.2" : "unet.middle_block.1", hp.groups, hp.eps);

  // output_blocks.N: ResBlock [+ SpatialTransformer] [+ Upsample `conv`]; each
  // consumes one skip connection, so there are as many as input stages + conv_in.
  for (size_t n = 0; n < u.input_blocks_.size() + 1; ++n) {
    std::string p = "unet.output_blocks." + std::to_string(n);
    UNetStage s;
    s.res = UNetResBlock::bind(w, p + ".0", hp.groups, hp.eps);
    s.attn = bind_attn(w, p + ".1", hp, level);
    std::string up = p + (s.attn ? ".2" : ".1");
    if (w.has(up + ".conv.weight")) {
      s.up = Upsample::bind(w, up + ".conv");
      if (level == 0) fail(ErrorCode::ModelFormat, up + ": more upsamples than downsamples");
      --level;
    }
    u.output_blocks_.push_back(std::move(s));
  }
  if (level != 0) fail(ErrorCode::ModelFormat, "unet: fewer upsamples than downsamples in output_blocks");

  u.out_norm_ = GroupNorm::bind(w, "unet.out.0", hp.groups, hp.eps);
  u.out_conv_ = Conv2d::bind(w, "unet.out.2", 1, 1);
  u.out_channels_ = int(u.out_conv_.out());
  const SpatialTransformer* any_attn = nullptr;
  for (const auto& s : u.input_blocks_)
    if (s.attn) any_attn = &*s.attn;
  if (!any_attn) fail(ErrorCode::ModelFormat, "unet: no cross-attention blocks");
  u.context_dim_ = int(any_attn->blocks[0].attn2.to_k.in());
  return u;
}

Tensor UNet::forward(Compute& c, const Tensor& x, const Tensor& t, const Tensor& context, const UNetAddedCond* added,
                     const Probe* probe) const {
  if (x.dim() != 4 || x.size(1) != in_channels_ || x.numel() == 0)
    fail(ErrorCode::InvalidOption, "unet input must be [B, " + std::to_string(in_channels_) + ", H, W], got " + shape_str(x.shape()));
  const int64_t b = x.size(0);
  if (context.dim() != 3 || context.size(0) != b || context.size(2) != context_dim_)
    fail(ErrorCode::InvalidOption,
         "unet context must be [" + std::to_string(b) + ", S, " + std::to_string(context_dim_) + "], got " + shape_str(context.shape()));
  if (t.numel() != 1 && t.numel() != b)
    fail(ErrorCode::InvalidOption, "unet needs one timestep or one per sample, got " + shape_str(t.shape()));

  // Timesteps [B] (one value broadcast to the batch).
  Tensor tf = t.to_f32();
  Tensor ts = Tensor::empty(DType::F32, {b});  // [B]
  for (int64_t i = 0; i < b; ++i) ts.data_as<float>()[i] = tf.data_as<float>()[tf.numel() == 1 ? 0 : i];

  Tensor emb = time_embed_.forward(c, timestep_features(ts, model_channels_, sinusoid_));  // [B, E]
  probe_out(probe, "time_embed", emb);
  if (label_emb_) {
    if (!added) fail(ErrorCode::InvalidOption, "this U-Net (SDXL) needs text_embeds and time_ids");
    if (added->text_embeds.dim() != 2 || added->text_embeds.size(1) != pooled_dim_)
      fail(ErrorCode::InvalidOption,
           "SDXL text_embeds must be [B, " + std::to_string(pooled_dim_) + "], got " + shape_str(added->text_embeds.shape()));
    Tensor a = text_time_features(c, added->text_embeds, added->time_ids, addition_time_embed_dim_, sinusoid_);
    Tensor label = label_emb_->forward(c, a);  // [B, E]
    probe_out(probe, "label_emb", label);
    ops::add_(c, emb, label);
  }
  ops::silu_(c, emb);  // every ResBlock consumes silu(emb): [B, E]

  std::vector<Tensor> skips;  // one per input stage + conv_in, consumed last-in first-out
  Tensor h = conv_in_(c, x);  // [B, C0, H, W]
  skips.push_back(h);
  for (size_t n = 0; n < input_blocks_.size(); ++n) {
    h = input_blocks_[n].forward(c, h, emb, context);
    probe_out(probe, "input_blocks." + std::to_string(n + 1), h);
    skips.push_back(h);
  }
  h = middle_block_.forward(c, std::move(h), emb, context);
  probe_out(probe, "middle_block", h);
  for (size_t n = 0; n < output_blocks_.size(); ++n) {
    h = ops::concat(c, h, skips.back(), 1);  // [B, C + Cskip, H, W]
    skips.pop_back();
    h = output_blocks_[n].forward(c, std::move(h), emb, context, skips.empty() ? nullptr : &skips.back());
    probe_out(probe, "output_blocks." + std::to_string(n), h);
  }
  h = out_conv_(c, out_norm_(c, h, /*silu=*/true));  // [B, Cout, H, W]
  probe_out(probe, "out", h);
  return h;
}

}  // namespace sd
