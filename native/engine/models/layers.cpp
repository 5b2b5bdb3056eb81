#include "models/layers.h"

#include "core/error.h"
#include "models/group_norm_session.h"

namespace sd {

void expect_shape(const Tensor& t, const Shape& want, const std::string& name) {
  if (t.shape() != want)
    fail(ErrorCode::ModelFormat, "weight \"" + name + "\" has shape " + shape_str(t.shape()) + ", expected " + shape_str(want));
}

static void expect_rank(const Tensor& t, int rank, const std::string& name) {
  if (t.dim() != rank)
    fail(ErrorCode::ModelFormat, "weight \"" + name + "\" has shape " + shape_str(t.shape()) + ", expected rank " + std::to_string(rank));
}

LowRankSide LowRankSide::bind(const ModelWeights& wts, const std::string& prefix, const Tensor& w) {
  LowRankSide s;
  const Tensor* down = wts.find(prefix + kLoraSideDown);
  const Tensor* up = wts.find(prefix + kLoraSideUp);
  if (!down && !up) return s;
  const std::string what = prefix + " LoRA side path";
  if (!down || !up || up->dim() != 2 || down->size(0) != up->size(1) || up->size(0) != w.size(0) ||
      down->numel() != down->size(0) * (w.numel() / w.size(0)))
    fail(ErrorCode::ModelFormat, what + " does not fit weight " + shape_str(w.shape()));
  const int64_t r = up->size(1);
  Shape down_shape = w.shape();  // [r, in] or [r, in, k, k]
  down_shape[0] = r;
  s.down = down->reshape(down_shape);
  s.up = w.dim() == 4 ? up->reshape({w.size(0), r, 1, 1}) : *up;
  return s;
}

Linear Linear::bind(const ModelWeights& wts, const std::string& prefix, bool bias) {
  Linear l;
  l.w = wts.get(prefix + ".weight");
  if (l.w.dim() == 4 && l.w.size(2) == 1 && l.w.size(3) == 1) l.w = l.w.reshape({l.w.size(0), l.w.size(1)});
  expect_rank(l.w, 2, prefix + ".weight");
  l.lora = LowRankSide::bind(wts, prefix, l.w);
  if (bias) {
    l.b = wts.get(prefix + ".bias");
    expect_shape(l.b, {l.out()}, prefix + ".bias");
  }
  return l;
}

Tensor Linear::operator()(Compute& c, const Tensor& x) const {
  Tensor y = ops::linear(c, x, w, b.defined() ? &b : nullptr);  // [..., out]
  if (lora.active()) {
    Tensor h = ops::linear(c, x, lora.down, nullptr);  // [..., r]
    ops::add_(c, y, ops::linear(c, h, lora.up, nullptr));
  }
  return y;
}

Conv2d Conv2d::bind(const ModelWeights& wts, const std::string& prefix, int stride, int pad) {
  Conv2d l;
  l.w = wts.get(prefix + ".weight");
  expect_rank(l.w, 4, prefix + ".weight");
  l.lora = LowRankSide::bind(wts, prefix, l.w);
  l.b = wts.get(prefix + ".bias");
  expect_shape(l.b, {l.out()}, prefix + ".bias");
  l.stride = stride;
  l.pad = pad;
  return l;
}

Tensor Conv2d::operator()(Compute& c, const Tensor& x) const { return padded(c, x, pad, pad, pad, pad); }

Tensor Conv2d::padded(Compute& c, const Tensor& x, int top, int left, int bottom, int right) const {
  Tensor y = ops::conv2d(c, x, w, &b, stride, top, left, bottom, right);  // [B, out, H', W']
  if (lora.active()) {
    Tensor h = ops::conv2d(c, x, lora.down, nullptr, stride, top, left, bottom, right);  // [B, r, H', W']
    ops::add_(c, y, ops::conv2d(c, h, lora.up, nullptr, 1, 0));
  }
  return y;
}

GroupNorm GroupNorm::bind(const ModelWeights& wts, const std::string& prefix, int groups, float eps) {
  GroupNorm n;
  n.gamma = wts.get(prefix + ".weight");
  expect_rank(n.gamma, 1, prefix + ".weight");
  n.beta = wts.get(prefix + ".bias");
  expect_shape(n.beta, n.gamma.shape(), prefix + ".bias");
  if (groups <= 0 || n.channels() % groups != 0)
    fail(ErrorCode::ModelFormat, prefix + ": " + std::to_string(n.channels()) + " channels do not split into " + std::to_string(groups) +
                                     " groups (norm_num_groups)");
  n.groups = groups;
  n.eps = eps;
  return n;
}

// With a statistics session (tiled VAE decode) the session decides which
// statistics normalise x; without one, x's own (the reference path).
Tensor GroupNorm::operator()(Compute& c, const Tensor& x, bool silu) const {
  const ops::GroupSums* stats = c.group_norm_stats ? c.group_norm_stats->next(c, x, groups) : nullptr;
  if (stats) return ops::group_norm(c, x, groups, gamma, beta, eps, silu, stats);
  return ops::group_norm(c, x, groups, gamma, beta, eps, silu);
}

Tensor GroupNorm::consume(Compute& c, Tensor x, bool silu) const {
  const ops::GroupSums* stats = c.group_norm_stats ? c.group_norm_stats->next(c, x, groups) : nullptr;
  if (x.owner().use_count() != 1)
    return stats ? ops::group_norm(c, x, groups, gamma, beta, eps, silu, stats) : ops::group_norm(c, x, groups, gamma, beta, eps, silu);
  if (stats)
    ops::group_norm_(c, x, groups, gamma, beta, eps, silu, stats);
  else
    ops::group_norm_(c, x, groups, gamma, beta, eps, silu);
  return x;
}

LayerNorm LayerNorm::bind(const ModelWeights& wts, const std::string& prefix, float eps) {
  LayerNorm n;
  n.gamma = wts.get(prefix + ".weight");
  expect_rank(n.gamma, 1, prefix + ".weight");
  n.beta = wts.get(prefix + ".bias");
  expect_shape(n.beta, n.gamma.shape(), prefix + ".bias");
  n.eps = eps;
  return n;
}

Tensor LayerNorm::operator()(Compute& c, const Tensor& x) const { return ops::layer_norm(c, x, gamma, beta, eps); }

}  // namespace sd
