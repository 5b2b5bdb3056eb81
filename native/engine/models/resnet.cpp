#include "models/resnet.h"

#include <algorithm>

#include "core/error.h"

namespace sd {

UNetResBlock UNetResBlock::bind(const ModelWeights& w, const std::string& p, int groups, float eps) {
  UNetResBlock r;
  r.in_norm = GroupNorm::bind(w, p + ".in_layers.0", groups, eps);
  r.in_conv = Conv2d::bind(w, p + ".in_layers.2", 1, 1);
  r.emb_proj = Linear::bind(w, p + ".emb_layers.1");
  r.out_norm = GroupNorm::bind(w, p + ".out_layers.0", groups, eps);
  r.out_conv = Conv2d::bind(w, p + ".out_layers.3", 1, 1);
  if (w.has(p + ".skip_connection.weight")) r.skip = Conv2d::bind(w, p + ".skip_connection", 1, 0);
  expect_shape(r.in_norm.gamma, {r.in_conv.in()}, p + ".in_layers.0.weight");
  expect_shape(r.emb_proj.w, {r.in_conv.out(), r.emb_proj.in()}, p + ".emb_layers.1.weight");
  expect_shape(r.out_conv.w, {r.in_conv.out(), r.in_conv.out(), 3, 3}, p + ".out_layers.3.weight");
  if (!r.skip && r.in_conv.in() != r.in_conv.out()) fail(ErrorCode::ModelFormat, p + ": channels change but skip_connection is missing");
  return r;
}

Tensor UNetResBlock::forward(Compute& c, Tensor x, const Tensor& emb_act) const {
  // The residual first, as in VaeResBlock: with a skip conv x is then dead
  // and in_norm overwrites it (the decoder's 64x64 blocks: 10.5 MB less at
  // the U-Net's activation peak at 512x512).
  Tensor res = skip ? (*skip)(c, x) : x;                                           // [B, Cout, H, W]
  Tensor h = skip ? in_norm.consume(c, std::move(x), true) : in_norm(c, x, true);  // [B, Cin, H, W]
  x = Tensor();
  h = in_conv(c, h);                // [B, Cout, H, W]
  Tensor e = emb_proj(c, emb_act);  // [B, Cout]
  ops::add_channel_bias_(c, h, e);
  h = out_conv(c, out_norm.consume(c, std::move(h), /*silu=*/true));  // [B, Cout, H, W]
  ops::add_(c, h, res);
  return h;
}

VaeResBlock VaeResBlock::bind(const ModelWeights& w, const std::string& p, int groups, float eps) {
  VaeResBlock r;
  r.norm1 = GroupNorm::bind(w, p + ".norm1", groups, eps);
  r.conv1 = Conv2d::bind(w, p + ".conv1", 1, 1);
  r.norm2 = GroupNorm::bind(w, p + ".norm2", groups, eps);
  r.conv2 = Conv2d::bind(w, p + ".conv2", 1, 1);
  if (w.has(p + ".nin_shortcut.weight")) r.nin_shortcut = Conv2d::bind(w, p + ".nin_shortcut", 1, 0);
  expect_shape(r.norm1.gamma, {r.conv1.in()}, p + ".norm1.weight");
  expect_shape(r.conv2.w, {r.conv1.out(), r.conv1.out(), 3, 3}, p + ".conv2.weight");
  if (!r.nin_shortcut && r.conv1.in() != r.conv1.out()) fail(ErrorCode::ModelFormat, p + ": channels change but nin_shortcut is missing");
  return r;
}

Tensor VaeResBlock::forward(Compute& c, Tensor x) const {
  // The residual first: with a shortcut conv, x is dead after it and norm1
  // overwrites it (at 512x512 the 256 -> 128 channel block holds x, the
  // residual and conv1's output, 512 MB, instead of x, its normalised copy
  // and conv1's output, 640 MB).
  Tensor res = nin_shortcut ? (*nin_shortcut)(c, x) : x;                               // [B, Cout, H, W]
  Tensor h = nin_shortcut ? norm1.consume(c, std::move(x), true) : norm1(c, x, true);  // [B, Cin, H, W]
  x = Tensor();
  h = conv1(c, h);                                     // [B, Cout, H, W]
  h = conv2(c, norm2.consume(c, std::move(h), true));  // [B, Cout, H, W]
  ops::add_(c, h, res);
  return h;
}

Downsample Downsample::bind(const ModelWeights& w, const std::string& p, bool asymmetric) {
  Downsample d;
  d.conv = Conv2d::bind(w, p, 2, asymmetric ? 0 : 1);
  d.asymmetric = asymmetric;
  return d;
}

Tensor Downsample::forward(Compute& c, const Tensor& x) const {
  if (asymmetric) return conv.padded(c, x, /*top=*/0, /*left=*/0, /*bottom=*/1, /*right=*/1);
  return conv(c, x);
}

Upsample Upsample::bind(const ModelWeights& w, const std::string& p) {
  Upsample u;
  u.conv = Conv2d::bind(w, p, 1, 1);
  return u;
}

Tensor Upsample::forward(Compute& c, const Tensor& x) const { return forward_banded(c, x, kBandBytes); }

Tensor Upsample::forward_to(Compute& c, const Tensor& x, int64_t Ho, int64_t Wo) const {
  if (Ho == 2 * x.size(2) && Wo == 2 * x.size(3)) return forward(c, x);
  return conv(c, ops::upsample_nearest(c, x, Ho, Wo));  // [B, Cout, Ho, Wo]
}

Tensor Upsample::forward_banded(Compute& c, const Tensor& x, int64_t band_bytes) const {
  // Above band_bytes of upsampled input, bands of output rows: only a band
  // of the upsampled map exists at a time (the VAE's last upsample at
  // 512x512 would otherwise hold 256 MB of it next to its input and output).
  // A band of R output rows reads R + 2 upsampled rows, R a multiple of 4
  // (whole Winograd tiles); zero padding only at the map's own edges.
  const int64_t B = x.size(0), C = x.size(1), Ho = 2 * x.size(2), Wo = 2 * x.size(3);
  const int64_t row_bytes = B * C * Wo * int64_t(sizeof(float));
  if (Ho * row_bytes <= band_bytes) return conv(c, ops::upsample_nearest2x(c, x));  // [B, C, 2H, 2W]
  const int64_t band = std::max<int64_t>(4, (band_bytes / row_bytes - 2) / 4 * 4);
  Tensor out = Tensor::empty(DType::F32, {B, conv.out(), Ho, Wo});  // [B, Cout, 2H, 2W]
  for (int64_t r0 = 0; r0 < Ho; r0 += band) {
    const int64_t r1 = std::min(Ho, r0 + band), u0 = std::max<int64_t>(0, r0 - 1), u1 = std::min(Ho, r1 + 1);
    Tensor y = conv.padded(c, ops::upsample_nearest2x_rows(c, x, u0, u1), r0 == 0 ? 1 : 0, 1, r1 == Ho ? 1 : 0, 1);  // [B, Cout, r1-r0, 2W]
    ops::paste_rows(c, out, y, r0);
  }
  return out;
}

}  // namespace sd
