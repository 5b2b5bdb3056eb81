#include "models/vae.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <utility>

#include "core/error.h"
#include "models/group_norm_session.h"
#include "models/hparams.h"

namespace sd {

namespace {

constexpr float kVaeEps = 1e-6f;

VaeMidBlock bind_mid(const ModelWeights& w, const std::string& p, int groups) {
  VaeMidBlock m{VaeResBlock::bind(w, p + ".block_1", groups, kVaeEps), std::nullopt, VaeResBlock::bind(w, p + ".block_2", groups, kVaeEps)};
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
    if (encoder && w.has(lp + ".downsample.conv.weight")) l.downsample = Downsample::bind(w, lp + ".downsample.conv", /*asymmetric=*/true);
    if (!encoder && w.has(lp + ".upsample.conv.weight")) l.upsample = Upsample::bind(w, lp + ".upsample.conv");
    levels.push_back(std::move(l));
  }
  if (levels.empty()) fail(ErrorCode::ModelFormat, "vae: no " + p + ".0.block.0 weights");
  return levels;
}

}  // namespace

Tensor VaeMidBlock::forward(Compute& c, Tensor x) const {
  Tensor h = block_1.forward(c, std::move(x));
  if (attn_1) h = attn_1->forward(c, h);
  return block_2.forward(c, std::move(h));
}

Tensor VaeLevel::forward(Compute& c, Tensor x) const {
  Tensor h = std::move(x);
  for (const auto& b : blocks) h = b.forward(c, std::move(h));
  if (downsample) h = downsample->forward(c, h);  // [B, C, H/2, W/2]
  if (upsample) h = upsample->forward(c, h);      // [B, C, 2H, 2W]
  return h;
}

Tensor VaePosterior::sample(const Tensor& noise) const {
  if (noise.shape() != mean.shape())
    fail(ErrorCode::InvalidOption, "posterior noise must be " + shape_str(mean.shape()) + ", got " + shape_str(noise.shape()));
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
                                       ", H, W] with H, W multiples of " + std::to_string(f) + ", got " + shape_str(image.shape()));
  Tensor h = enc_conv_in_(c, image);  // [B, C0, H, W]
  for (const auto& l : encoder_down_) h = l.forward(c, std::move(h));
  h = enc_mid_.forward(c, std::move(h));                     // [B, Cn, H/f, W/f]
  h = enc_conv_out_(c, enc_norm_out_(c, h, /*silu=*/true));  // [B, 2L, H/f, W/f]
  if (quant_conv_) h = conv1x1(c, *quant_conv_, h);
  return h;
}

VaePosterior VAE::encode(Compute& c, const Tensor& image) const {
  Tensor m = encode_moments(c, image);  // [B, 2L, h, w]
  int64_t b = m.size(0), l = latent_channels_, plane = l * m.size(2) * m.size(3);
  VaePosterior p{Tensor::empty(DType::F32, {b, l, m.size(2), m.size(3)}), Tensor::empty(DType::F32, {b, l, m.size(2), m.size(3)})};
  // moments.chunk(2, dim=1): first L channels mean, last L logvar.
  for (int64_t i = 0; i < b; ++i) {
    const float* src = m.data_as<float>() + i * 2 * plane;
    std::memcpy(p.mean.data_as<float>() + i * plane, src, size_t(plane) * 4);
    std::memcpy(p.logvar.data_as<float>() + i * plane, src + plane, size_t(plane) * 4);
  }
  return p;
}

Tensor VAE::decode_head(Compute& c, const Tensor& z) const {
  if (z.dim() != 4 || z.size(1) != latent_channels_)
    fail(ErrorCode::InvalidOption,
         "vae decoder input must be [B, " + std::to_string(latent_channels_) + ", h, w], got " + shape_str(z.shape()));
  Tensor h = post_quant_conv_ ? conv1x1(c, *post_quant_conv_, z) : z;  // [B, L, h, w]
  return dec_mid_.forward(c, dec_conv_in_(c, h));                      // [B, Cn, h, w]
}

Tensor VAE::decode_up(Compute& c, Tensor x) const {
  for (size_t i = decoder_up_.size(); i-- > 0;) x = decoder_up_[i].forward(c, std::move(x));
  return x;  // [B, C0, f*h, f*w]
}

Tensor VAE::decode_out(Compute& c, Tensor x) const {
  return dec_conv_out_(c, dec_norm_out_.consume(c, std::move(x), /*silu=*/true));  // [B, 3, H, W]
}

Tensor VAE::decode(Compute& c, const Tensor& z) const { return decode_out(c, decode_up(c, decode_head(c, z))); }

int64_t VAE::decode_activation_bytes(int64_t h, int64_t w) const {
  const int64_t f = downsample_factor();
  return 6 * dec_conv_out_.in() * (f * h) * (f * w) * int64_t(sizeof(float));
}

// Tile start positions covering [0, n): stride tile - overlap, the last tile
// flush with the end.
static std::vector<int64_t> tile_starts(int64_t n, int64_t tile, int64_t overlap) {
  std::vector<int64_t> starts{0};
  if (n <= tile) return starts;
  for (int64_t s = tile - overlap; s + tile < n; s += tile - overlap) starts.push_back(s);
  starts.push_back(n - tile);
  return starts;
}

// The latent positions tile k owns along one axis (tile coordinates): each
// overlap is split at its middle, so every position belongs to one tile.
static std::pair<int64_t, int64_t> own_range(const std::vector<int64_t>& starts, size_t k, int64_t len, int64_t n) {
  int64_t lo = k ? (starts[k - 1] + len + starts[k]) / 2 : 0;
  int64_t hi = k + 1 < starts.size() ? (starts[k] + len + starts[k + 1]) / 2 : n;
  return {lo - starts[k], hi - starts[k]};
}

// Blend weight along one axis of a tile of `len` pixels: a linear ramp of
// `ramp` pixels on each side that has a neighbouring tile, 1 elsewhere.
static float ramp_weight(int64_t i, int64_t len, int64_t ramp, bool before, bool after) {
  float w = 1.f;
  if (before && i < ramp) w = std::min(w, (float(i) + 0.5f) / float(ramp));
  if (after && len - 1 - i < ramp) w = std::min(w, (float(len - 1 - i) + 0.5f) / float(ramp));
  return w;
}

Tensor VAE::decode_tiled(Compute& c, const Tensor& z, int tile, int overlap, const std::function<void()>& before_tile) const {
  if (tile < 8 || overlap < 0 || overlap >= tile / 2)
    fail(ErrorCode::InvalidOption,
         "VAE tiling needs tile >= 8 and 0 <= overlap < tile/2, got tile " + std::to_string(tile) + ", overlap " + std::to_string(overlap));
  if (z.dim() != 4 || z.size(1) != latent_channels_)
    fail(ErrorCode::InvalidOption,
         "vae decoder input must be [B, " + std::to_string(latent_channels_) + ", h, w], got " + shape_str(z.shape()));
  const int64_t b = z.size(0), h = z.size(2), w = z.size(3);
  if (h <= tile && w <= tile) return decode(c, z);
  const int64_t f = downsample_factor(), ramp = int64_t(overlap) * f;
  const int64_t th = std::min<int64_t>(tile, h), tw = std::min<int64_t>(tile, w);
  const std::vector<int64_t> ys = tile_starts(h, tile, overlap), xs = tile_starts(w, tile, overlap);
  // The latent-resolution head (conv_in, mid block with its attention) runs
  // on the whole latent: its activations are 1/64 of the pixels (~5% of a
  // whole decode's), and tile-local attention was the largest remaining
  // difference from the whole decode (docs/performance.md).
  Tensor head = decode_head(c, z.to_f32());  // [B, Cn, h, w]
  const int64_t cn = head.size(1);
  auto crop = [&](size_t ty, size_t tx) {
    Tensor t = Tensor::empty(DType::F32, {b, cn, th, tw});  // [B, Cn, th, tw]
    for (int64_t p = 0; p < b * cn; ++p)
      for (int64_t y = 0; y < th; ++y)
        std::memcpy(t.data_as<float>() + (p * th + y) * tw, head.data_as<float>() + (p * h + ys[ty] + y) * w + xs[tx], size_t(tw) * 4);
    return t;
  };
  GroupNormSession stats;
  Compute tc = c;  // the tiles' GroupNorms consult `stats`
  tc.group_norm_stats = &stats;
  auto begin_tile = [&](size_t ty, size_t tx) {
    if (before_tile) before_tile();
    auto [y0, y1] = own_range(ys, ty, th, h);
    auto [x0, x1] = own_range(xs, tx, tw, w);
    stats.begin_tile(th, tw, {y0, y1, x0, x1});
  };

  // Pass 1: the up path's GroupNorm inputs' sums over the whole map, each
  // tile adding its own region. Its norms still use the tile's statistics,
  // so these are the whole map's only approximately, but as good as exact
  // ones for the result (docs/performance.md). Nothing after the last norm runs.
  stats.begin_pass(/*record=*/true, /*apply=*/false);
  for (size_t ty = 0; ty < ys.size(); ++ty)
    for (size_t tx = 0; tx < xs.size(); ++tx) {
      begin_tile(ty, tx);
      stats.next(tc, decode_up(tc, crop(ty, tx)), dec_norm_out_.groups);
    }
  stats.end_pass();

  // Pass 2: every tile normalised with those statistics, blended with
  // linear ramps across the overlaps.
  stats.begin_pass(/*record=*/false, /*apply=*/true);
  Tensor out;                                               // [B, 3, f*h, f*w]: weighted sum of tiles
  Tensor wsum = Tensor::zeros(DType::F32, {f * h, f * w});  // [f*h, f*w]
  for (size_t ty = 0; ty < ys.size(); ++ty)
    for (size_t tx = 0; tx < xs.size(); ++tx) {
      begin_tile(ty, tx);
      Tensor img = decode_out(tc, decode_up(tc, crop(ty, tx)));  // [B, C, f*th, f*tw]
      const int64_t y0 = ys[ty], x0 = xs[tx];
      int64_t ch = img.size(1), ih = img.size(2), iw = img.size(3), oh = f * h, ow = f * w;
      if (!out.defined()) out = Tensor::zeros(DType::F32, {b, ch, oh, ow});
      for (int64_t y = 0; y < ih; ++y) {
        float wy = ramp_weight(y, ih, ramp, ty > 0, ty + 1 < ys.size());
        for (int64_t x = 0; x < iw; ++x) {
          float wt = wy * ramp_weight(x, iw, ramp, tx > 0, tx + 1 < xs.size());
          int64_t o = (f * y0 + y) * ow + f * x0 + x;
          wsum.data_as<float>()[o] += wt;
          for (int64_t p = 0; p < b * ch; ++p) out.data_as<float>()[p * oh * ow + o] += wt * img.data_as<float>()[(p * ih + y) * iw + x];
        }
      }
    }
  const int64_t plane = wsum.numel(), n = out.numel();
  float* op = out.data_as<float>();
  const float* ws = wsum.data_as<float>();
  for (int64_t p = 0; p < n; ++p) op[p] /= ws[p % plane];
  return out;
}

}  // namespace sd
