// ops::group_norm and ops::layer_norm. Statistics are accumulated in double
// in a fixed order (two passes: mean, then centred variance), so they are
// exact to f32 rounding and independent of the thread count.
#include <cmath>

#include "kernels/kernel_table.h"
#include "kernels/op_checks.h"
#include "kernels/ops.h"
#include "tensor/thread_pool.h"

namespace sd {
namespace ops {
namespace {

// Mean and 1/sqrt(var + eps) of x[0..n).
void moments(const float* x, int64_t n, float eps, float* mean, float* rstd) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += x[i];
  const double m = n ? s / double(n) : 0.0;
  double v = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double d = x[i] - m;
    v += d * d;
  }
  v = n ? v / double(n) : 0.0;
  *mean = float(m);
  *rstd = float(1.0 / std::sqrt(v + double(eps)));
}

}  // namespace

namespace {

// y = group_norm(x); y may be x: each (batch, group) block is read whole for
// its moments before any of it is written.
void group_norm_into(Compute& c, const Tensor& x, Tensor& y, int groups, const Tensor& gamma, const Tensor& beta, float eps,
                     bool fuse_silu) {
  const char* op = "group_norm";
  const int64_t B = x.size(0), C = x.size(1), S = C ? x.numel() / (B * C) : 0;
  const std::vector<float> g = kern::param_f32(gamma, op, "gamma", C), be = kern::param_f32(beta, op, "beta", C);
  const int64_t cg = C / groups;
  const kern::Table& t = kern::table();
  const float* xp = x.data_as<float>();
  float* yp = y.data_as<float>();
  parallel_for(c.pool, B * groups, 1, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t off = i * cg * S;  // group i = (batch, group): cg*S contiguous values
      float mean, rstd;
      moments(xp + off, cg * S, eps, &mean, &rstd);
      for (int64_t cc = 0; cc < cg; ++cc) {
        const int64_t ch = (i % groups) * cg + cc;
        const float a = rstd * g[ch], bb = be[ch] - mean * a;
        const float* xs = xp + off + cc * S;
        float* ys = yp + off + cc * S;
        for (int64_t s = 0; s < S; ++s) ys[s] = xs[s] * a + bb;
        if (fuse_silu) t.silu(ys, S);
      }
    }
  });
}

void check_group_norm(const Tensor& x, int groups) {
  const char* op = "group_norm";
  kern::require_act(x, op, "x");
  kern::require(x.dim() >= 2, op, "x must be [B, C, ...], got " + shape_str(x.shape()));
  const int64_t C = x.size(1);
  kern::require(groups > 0 && C % groups == 0, op,
                "channels " + std::to_string(C) + " not divisible into " + std::to_string(groups) + " groups");
}

}  // namespace

Tensor group_norm(Compute& c, const Tensor& x, int groups, const Tensor& gamma, const Tensor& beta, float eps, bool fuse_silu) {
  kern::OpTimer timer_(c, OpTimers::Norm);
  check_group_norm(x, groups);
  Tensor y = kern::new_tensor(c, x.shape());  // same shape as x
  group_norm_into(c, x, y, groups, gamma, beta, eps, fuse_silu);
  return y;
}

void group_norm_(Compute& c, Tensor& x, int groups, const Tensor& gamma, const Tensor& beta, float eps, bool fuse_silu) {
  kern::OpTimer timer_(c, OpTimers::Norm);
  check_group_norm(x, groups);
  group_norm_into(c, x, x, groups, gamma, beta, eps, fuse_silu);
}

Tensor layer_norm(Compute& c, const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps) {
  kern::OpTimer timer_(c, OpTimers::Norm);
  const char* op = "layer_norm";
  kern::require_act(x, op, "x");
  kern::require(x.dim() >= 1, op, "x must have at least one dim");
  const int64_t C = x.size(-1), rows = C ? x.numel() / C : 0;
  const std::vector<float> g = kern::param_f32(gamma, op, "gamma", C), be = kern::param_f32(beta, op, "beta", C);
  Tensor y = kern::new_tensor(c, x.shape());  // same shape as x
  const float* xp = x.data_as<float>();
  float* yp = y.data_as<float>();
  parallel_for(c.pool, rows, balanced_grain(rows, 16), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      float mean, rstd;
      moments(xp + r * C, C, eps, &mean, &rstd);
      for (int64_t j = 0; j < C; ++j) yp[r * C + j] = (xp[r * C + j] - mean) * rstd * g[j] + be[j];
    }
  });
  return y;
}

}  // namespace ops
}  // namespace sd
