#include "models/resnet.h"

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

Tensor UNetResBlock::forward(Compute& c, const Tensor& x, const Tensor& emb_act) const {
  Tensor h = in_conv(c, in_norm(c, x, /*silu=*/true));  // [B, Cout, H, W]
  Tensor e = emb_proj(c, emb_act);                      // [B, Cout]
  ops::add_channel_bias_(c, h, e);
  h = out_conv(c, out_norm(c, h, /*silu=*/true));  // [B, Cout, H, W]
  if (skip) {
    Tensor s = (*skip)(c, x);  // [B, Cout, H, W]
    ops::add_(c, h, s);
  } else {
    ops::add_(c, h, x);
  }
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

Tensor VaeResBlock::forward(Compute& c, const Tensor& x) const {
  Tensor h = conv1(c, norm1(c, x, /*silu=*/true));  // [B, Cout, H, W]
  h = conv2(c, norm2(c, h, /*silu=*/true));         // [B, Cout, H, W]
  if (nin_shortcut) {
    Tensor s = (*nin_shortcut)(c, x);  // [B, Cout, H, W]
    ops::add_(c, h, s);
  } else {
    ops::add_(c, h, x);
  }
  return h;
}

Downsample Downsample::bind(const ModelWeights& w, const std::string& p, bool asymmetric) {
  Downsample d;
  d.conv = Conv2d::bind(w, p, 2, asymmetric ? 0 : 1);
  d.asymmetric = asymmetric;
  return d;
}

Tensor Downsample::forward(Compute& c, const Tensor& x) const {
  if (asymmetric) return ops::conv2d(c, x, conv.w, &conv.b, 2, /*top=*/0, /*left=*/0, /*bottom=*/1, /*right=*/1);
  return conv(c, x);
}

Upsample Upsample::bind(const ModelWeights& w, const std::string& p) {
  Upsample u;
  u.conv = Conv2d::bind(w, p, 1, 1);
  return u;
}

Tensor Upsample::forward(Compute& c, const Tensor& x) const {
  return conv(c, ops::upsample_nearest2x(c, x));  // [B, C, 2H, 2W]
}

}  // namespace sd
