// ops::group_norm (with its own or given statistics), ops::group_sums and
// ops::layer_norm. Own statistics are accumulated in double in a fixed order
// (two passes: mean, then centred variance), so they are exact to f32
// rounding and independent of the thread count.
#include <algorithm>
#include <cmath>
#include <string>

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

// Mean and 1/sqrt(var + eps) from accumulated sums (variance clamped at 0:
// sumsq/n - mean^2 can round below it).
void moments_from_sums(const GroupSums& s, float eps, float* mean, float* rstd) {
  const double m = s.sum / double(s.count), v = std::max(0.0, s.sumsq / double(s.count) - m * m);
  *mean = float(m);
  *rstd = float(1.0 / std::sqrt(v + double(eps)));
}

// y = group_norm(x) with x's own statistics, or with stats[b * groups + g]
// when given; y may be x: each (batch, group) block is read whole for its
// moments before any of it is written.
void group_norm_into(Compute& c, const Tensor& x, Tensor& y, int groups, const Tensor& gamma, const Tensor& beta, float eps, bool fuse_silu,
                     const GroupSums* stats) {
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
      if (stats)
        moments_from_sums(stats[i], eps, &mean, &rstd);
      else
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

void check_stats(const Tensor& x, int groups, const GroupSums* stats) {
  const int64_t n = x.size(0) * groups;
  for (int64_t i = 0; i < n; ++i)
    kern::require(stats[i].count > 0, "group_norm", "given statistics of (batch, group) " + std::to_string(i) + " cover no elements");
}

}  // namespace

Tensor group_norm(Compute& c, const Tensor& x, int groups, const Tensor& gamma, const Tensor& beta, float eps, bool fuse_silu) {
  kern::OpTimer timer_(c, OpTimers::Norm);
  check_group_norm(x, groups);
  Tensor y = kern::new_tensor(c, x.shape());  // same shape as x
  group_norm_into(c, x, y, groups, gamma, beta, eps, fuse_silu, nullptr);
  return y;
}

void group_norm_(Compute& c, Tensor& x, int groups, const Tensor& gamma, const Tensor& beta, float eps, bool fuse_silu) {
  kern::OpTimer timer_(c, OpTimers::Norm);
  check_group_norm(x, groups);
  group_norm_into(c, x, x, groups, gamma, beta, eps, fuse_silu, nullptr);
}

Tensor group_norm(Compute& c, const Tensor& x, int groups, const Tensor& gamma, const Tensor& beta, float eps, bool fuse_silu,
                  const GroupSums* stats) {
  kern::OpTimer timer_(c, OpTimers::Norm);
  check_group_norm(x, groups);
  check_stats(x, groups, stats);
  Tensor y = kern::new_tensor(c, x.shape());  // same shape as x
  group_norm_into(c, x, y, groups, gamma, beta, eps, fuse_silu, stats);
  return y;
}

void group_norm_(Compute& c, Tensor& x, int groups, const Tensor& gamma, const Tensor& beta, float eps, bool fuse_silu,
                 const GroupSums* stats) {
  kern::OpTimer timer_(c, OpTimers::Norm);
  check_group_norm(x, groups);
  check_stats(x, groups, stats);
  group_norm_into(c, x, x, groups, gamma, beta, eps, fuse_silu, stats);
}

void group_sums(Compute& c, const Tensor& x, int groups, const Region2d& r, GroupSums* acc) {
  kern::OpTimer timer_(c, OpTimers::Norm);
  const char* op = "group_sums";
  check_group_norm(x, groups);
  kern::require(x.dim() == 4, op, "x must be [B, C, H, W], got " + shape_str(x.shape()));
  const int64_t B = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3), cg = C / groups;
  kern::require(0 <= r.y0 && r.y0 <= r.y1 && r.y1 <= H && 0 <= r.x0 && r.x0 <= r.x1 && r.x1 <= W, op,
                "region rows [" + std::to_string(r.y0) + ", " + std::to_string(r.y1) + ") x columns [" + std::to_string(r.x0) + ", " +
                    std::to_string(r.x1) + ") outside " + shape_str(x.shape()));
  const float* xp = x.data_as<float>();
  parallel_for(c.pool, B * groups, 1, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      double s = 0, q = 0;
      for (int64_t ch = i * cg; ch < (i + 1) * cg; ++ch)  // i * cg = b * C + g * cg
        for (int64_t y = r.y0; y < r.y1; ++y) {
          const float* row = xp + (ch * H + y) * W;
          for (int64_t xx = r.x0; xx < r.x1; ++xx) {
            s += row[xx];
            q += double(row[xx]) * row[xx];
          }
        }
      acc[i].sum += s;
      acc[i].sumsq += q;
      acc[i].count += cg * (r.y1 - r.y0) * (r.x1 - r.x0);
    }
  });
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
