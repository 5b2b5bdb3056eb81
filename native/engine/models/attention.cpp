#include "models/attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"

namespace sd {

Tensor nchw_to_tokens(Compute& c, const Tensor& x) {
  int64_t b = x.size(0), ch = x.size(1), hw = x.size(2) * x.size(3);
  return ops::transpose_last2(c, x.reshape({b, ch, hw}));  // [B, HW, C]
}

Tensor tokens_to_nchw(Compute& c, const Tensor& t, int64_t h, int64_t w) {
  int64_t b = t.size(0), ch = t.size(2);
  return ops::transpose_last2(c, t).reshape({b, ch, h, w});  // [B, C, H, W]
}

CrossAttention CrossAttention::bind(const ModelWeights& w, const std::string& p, int heads) {
  CrossAttention a;
  a.to_q = Linear::bind(w, p + ".to_q", /*bias=*/false);
  a.to_k = Linear::bind(w, p + ".to_k", /*bias=*/false);
  a.to_v = Linear::bind(w, p + ".to_v", /*bias=*/false);
  a.to_out = Linear::bind(w, p + ".to_out.0");
  int64_t inner = a.to_q.out();
  expect_shape(a.to_k.w, {inner, a.to_k.in()}, p + ".to_k.weight");
  expect_shape(a.to_v.w, {inner, a.to_k.in()}, p + ".to_v.weight");
  expect_shape(a.to_out.w, {a.to_q.in(), inner}, p + ".to_out.0.weight");
  if (heads <= 0 || inner % heads != 0)
    fail(ErrorCode::ModelFormat,
         p + ": width " + std::to_string(inner) + " does not split into " + std::to_string(heads) + " attention heads");
  a.heads = heads;
  return a;
}

Tensor CrossAttention::forward(Compute& c, Tensor x, const Tensor* context) const {
  Tensor q = to_q(c, x);                       // [B, N, inner]
  Tensor k = to_k(c, context ? *context : x);  // [B, S, inner]
  Tensor v = to_v(c, context ? *context : x);  // [B, S, inner]
  x = Tensor();                                // dead from here: the U-Net's activation peak is inside this attention at 64x64
  float scale = 1.0f / std::sqrt(float(to_q.out() / heads));
  Tensor o = ops::attention(c, std::move(q), std::move(k), std::move(v), heads, /*causal=*/false, scale);  // [B, N, inner]
  return to_out(c, o);                                                                                     // [B, N, C]
}

FeedForward FeedForward::bind(const ModelWeights& w, const std::string& p) {
  FeedForward f;
  f.proj_in = Linear::bind(w, p + ".net.0.proj");
  f.proj_out = Linear::bind(w, p + ".net.2");
  expect_shape(f.proj_out.w, {f.proj_in.in(), f.proj_in.out() / 2}, p + ".net.2.weight");
  return f;
}

Tensor FeedForward::forward(Compute& c, Tensor x) const {
  // Blocks of tokens: the GEGLU input [rows, 2F] is the U-Net's largest
  // activation (84 MB for the whole CFG batch at 512x512); per block it
  // stays under kBlockBytes. Rows are independent, so the result is the same,
  // and a block's input rows are dead once projected, so the output goes
  // into x's storage when the caller handed over its last reference.
  constexpr int64_t kBlockBytes = 16ll << 20;
  const int64_t C = x.size(x.dim() - 1), rows = x.numel() / C;
  const int64_t blocks = std::max<int64_t>(1, (rows * proj_in.out() * int64_t(sizeof(float)) + kBlockBytes - 1) / kBlockBytes);
  if (blocks == 1) return proj_out(c, ops::geglu(c, proj_in(c, x)));  // [B, N, 2F] -> [B, N, F] -> [B, N, C]
  const bool in_place = x.owner().use_count() == 1;                   // proj_out maps back to C (checked in bind)
  const Tensor xr = x.reshape({rows, C});                             // [rows, C]
  Tensor out = in_place ? xr : Tensor::empty(DType::F32, {rows, C});
  const int64_t step = (rows + blocks - 1) / blocks;
  for (int64_t r0 = 0; r0 < rows; r0 += step) {
    const int64_t r1 = std::min(rows, r0 + step);
    Tensor y = proj_out(c, ops::geglu(c, proj_in(c, xr.slice_rows(r0, r1))));  // [r1 - r0, C]
    std::memcpy(out.data_as<float>() + r0 * C, y.data(), size_t(y.nbytes()));
  }
  return out.reshape(x.shape());
}

BasicTransformerBlock BasicTransformerBlock::bind(const ModelWeights& w, const std::string& p, int heads) {
  BasicTransformerBlock b;
  b.norm1 = LayerNorm::bind(w, p + ".norm1", 1e-5f);
  b.attn1 = CrossAttention::bind(w, p + ".attn1", heads);
  b.norm2 = LayerNorm::bind(w, p + ".norm2", 1e-5f);
  b.attn2 = CrossAttention::bind(w, p + ".attn2", heads);
  b.norm3 = LayerNorm::bind(w, p + ".norm3", 1e-5f);
  b.ff = FeedForward::bind(w, p + ".ff");
  return b;
}

void BasicTransformerBlock::forward(Compute& c, Tensor& x, const Tensor& context) const {
  Tensor h = attn1.forward(c, norm1(c, x), nullptr);  // [B, N, C]
  ops::add_(c, x, h);
  h = attn2.forward(c, norm2(c, x), &context);  // [B, N, C]
  ops::add_(c, x, h);
  h = ff.forward(c, norm3(c, x));  // [B, N, C]
  ops::add_(c, x, h);
}

SpatialTransformer SpatialTransformer::bind(const ModelWeights& w, const std::string& p, int groups, int heads) {
  SpatialTransformer s;
  s.norm = GroupNorm::bind(w, p + ".norm", groups, 1e-6f);
  s.proj_in = Linear::bind(w, p + ".proj_in");
  for (int i = 0; w.has(p + ".transformer_blocks." + std::to_string(i) + ".norm1.weight"); ++i)
    s.blocks.push_back(BasicTransformerBlock::bind(w, p + ".transformer_blocks." + std::to_string(i), heads));
  if (s.blocks.empty()) fail(ErrorCode::ModelFormat, p + ": no transformer_blocks");
  s.proj_out = Linear::bind(w, p + ".proj_out");
  expect_shape(s.proj_in.w, {s.channels(), s.channels()}, p + ".proj_in.weight");
  expect_shape(s.proj_out.w, {s.channels(), s.channels()}, p + ".proj_out.weight");
  return s;
}

Tensor SpatialTransformer::forward(Compute& c, const Tensor& x, const Tensor& context) const {
  int64_t h = x.size(2), w = x.size(3);
  Tensor t = proj_in(c, nchw_to_tokens(c, norm(c, x)));  // [B, HW, C]
  for (const auto& blk : blocks) blk.forward(c, t, context);
  t = proj_out(c, t);                       // [B, HW, C]
  Tensor out = tokens_to_nchw(c, t, h, w);  // [B, C, H, W]
  t = Tensor();
  ops::add_(c, out, x);
  return out;
}

VaeAttention VaeAttention::bind(const ModelWeights& w, const std::string& p, int groups, float eps) {
  VaeAttention a;
  a.norm = GroupNorm::bind(w, p + ".norm", groups, eps);
  a.q = Linear::bind(w, p + ".q");
  a.k = Linear::bind(w, p + ".k");
  a.v = Linear::bind(w, p + ".v");
  a.proj_out = Linear::bind(w, p + ".proj_out");
  int64_t ch = a.norm.channels();
  expect_shape(a.q.w, {ch, ch}, p + ".q.weight");
  expect_shape(a.k.w, {ch, ch}, p + ".k.weight");
  expect_shape(a.v.w, {ch, ch}, p + ".v.weight");
  expect_shape(a.proj_out.w, {ch, ch}, p + ".proj_out.weight");
  return a;
}

Tensor VaeAttention::forward(Compute& c, const Tensor& x) const {
  int64_t h = x.size(2), w = x.size(3);
  Tensor t = nchw_to_tokens(c, norm(c, x));  // [B, HW, C]
  Tensor qt = q(c, t);                       // [B, HW, C]
  Tensor kt = k(c, t);                       // [B, HW, C]
  Tensor vt = v(c, t);                       // [B, HW, C]
  t = Tensor();
  float scale = 1.0f / std::sqrt(float(norm.channels()));
  Tensor o = ops::attention(c, std::move(qt), std::move(kt), std::move(vt), /*heads=*/1, /*causal=*/false, scale);  // [B, HW, C]
  Tensor out = tokens_to_nchw(c, proj_out(c, o), h, w);                                                             // [B, C, H, W]
  ops::add_(c, out, x);
  return out;
}

}  // namespace sd
