// Element-wise ops: activations, GEGLU, softmax, broadcast add/mul, scale.
#include <cmath>
#include <cstring>

#include "kernels/kernel_table.h"
#include "kernels/op_checks.h"
#include "kernels/ops.h"
#include "tensor/thread_pool.h"

namespace sd {
namespace ops {
namespace {

constexpr int64_t kGrain = 16384;  // elements per task for cheap maps

template <typename F>
void map_inplace(Compute& c, Tensor& x, const char* op, F f) {
  kern::require_act(x, op, "x");
  float* p = x.data_as<float>();
  parallel_for(c.pool, x.numel(), kGrain, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) p[i] = f(p[i]);
  });
}

// b broadcasts over a's leading dims: b's shape (minus leading 1s) must be
// a trailing part of a's shape.
void check_broadcast(const Tensor& a, const Tensor& b, const char* op) {
  kern::require_act(a, op, "a");
  kern::require_act(b, op, "b");
  int bd = b.dim();
  while (bd > 0 && b.size(b.dim() - bd) == 1 && bd > a.dim()) --bd;
  bool ok = bd <= a.dim();
  for (int i = 1; ok && i <= bd; ++i) ok = b.size(b.dim() - i) == a.size(a.dim() - i);
  kern::require(ok && b.numel() > 0, op, "cannot broadcast " + shape_str(b.shape()) + " onto " + shape_str(a.shape()));
}

template <typename F>
void broadcast_inplace(Compute& c, Tensor& a, const Tensor& b, const char* op, F f) {
  check_broadcast(a, b, op);
  float* ap = a.data_as<float>();
  const float* bp = b.data_as<float>();
  const int64_t nb = b.numel();
  parallel_for(c.pool, a.numel(), kGrain, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) ap[i] = f(ap[i], bp[i % nb]);
  });
}

}  // namespace

// Runs a table kernel over x in fixed chunks.
static void table_inplace(Compute& c, Tensor& x, const char* op, void (*fn)(float*, int64_t)) {
  kern::require_act(x, op, "x");
  float* p = x.data_as<float>();
  parallel_for(c.pool, x.numel(), kGrain, [&](int64_t i0, int64_t i1) { fn(p + i0, i1 - i0); });
}

void silu_(Compute& c, Tensor& x) {
  kern::OpTimer timer_(c, OpTimers::Elementwise);
  table_inplace(c, x, "silu", kern::table().silu);
}
void gelu_(Compute& c, Tensor& x) {
  kern::OpTimer timer_(c, OpTimers::Elementwise);
  table_inplace(c, x, "gelu", kern::table().gelu);
}
void quick_gelu_(Compute& c, Tensor& x) {
  kern::OpTimer timer_(c, OpTimers::Elementwise);
  table_inplace(c, x, "quick_gelu", kern::table().quick_gelu);
}
void scale_(Compute& c, Tensor& a, float s) {
  kern::OpTimer timer_(c, OpTimers::Elementwise);
  map_inplace(c, a, "scale", [s](float v) { return v * s; });
}

Tensor geglu(Compute& c, const Tensor& x) {
  kern::OpTimer timer_(c, OpTimers::Elementwise);
  const char* op = "geglu";
  kern::require_act(x, op, "x");
  kern::require(x.dim() >= 1 && x.size(-1) % 2 == 0, op, "last dim must be even, got " + shape_str(x.shape()));
  const int64_t F2 = x.size(-1), F = F2 / 2, rows = F2 ? x.numel() / F2 : 0;
  Shape os = x.shape();
  os.back() = F;
  Tensor y = kern::new_tensor(c, os);  // [..., F]
  const float* xp = x.data_as<float>();
  float* yp = y.data_as<float>();
  const kern::Table& t = kern::table();
  parallel_for(c.pool, rows, balanced_grain(rows, 4), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      float* yr = yp + r * F;
      std::memcpy(yr, xp + r * F2 + F, size_t(F) * 4);  // gate half
      t.gelu(yr, F);
      for (int64_t j = 0; j < F; ++j) yr[j] *= xp[r * F2 + j];
    }
  });
  return y;
}

void softmax_(Compute& c, Tensor& x) {
  kern::OpTimer timer_(c, OpTimers::Elementwise);
  const char* op = "softmax";
  kern::require_act(x, op, "x");
  kern::require(x.dim() >= 1, op, "x must have a dim");
  const int64_t n = x.size(-1), rows = n ? x.numel() / n : 0;
  float* p = x.data_as<float>();
  const kern::Table& t = kern::table();
  parallel_for(c.pool, rows, balanced_grain(rows, 4), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      float* row = p + r * n;
      const float inv = 1.f / t.exp_shift_sum(row, n, t.max_of(row, n));
      for (int64_t j = 0; j < n; ++j) row[j] *= inv;
    }
  });
}

void add_(Compute& c, Tensor& a, const Tensor& b) {
  kern::OpTimer timer_(c, OpTimers::Elementwise);
  broadcast_inplace(c, a, b, "add", [](float x, float y) { return x + y; });
}
void mul_(Compute& c, Tensor& a, const Tensor& b) {
  kern::OpTimer timer_(c, OpTimers::Elementwise);
  broadcast_inplace(c, a, b, "mul", [](float x, float y) { return x * y; });
}

void add_channel_bias_(Compute& c, Tensor& a, const Tensor& v) {
  kern::OpTimer timer_(c, OpTimers::Elementwise);
  const char* op = "add_channel_bias";
  kern::require_act(a, op, "a");
  kern::require_act(v, op, "v");
  kern::require(a.dim() >= 2 && v.numel() == a.size(0) * a.size(1), op,
                "v " + shape_str(v.shape()) + " is not [B, C] of " + shape_str(a.shape()));
  const int64_t BC = a.size(0) * a.size(1), S = BC ? a.numel() / BC : 0;
  float* ap = a.data_as<float>();
  const float* vp = v.data_as<float>();
  parallel_for(c.pool, BC, balanced_grain(BC, 4), [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i)
      for (int64_t s = 0; s < S; ++s) ap[i * S + s] += vp[i];
  });
}

}  // namespace ops
}  // namespace sd
