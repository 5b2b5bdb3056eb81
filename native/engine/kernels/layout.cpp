// Data movement ops: nearest upsample, concat, last-two-dims transpose.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/op_checks.h"
#include "kernels/ops.h"
#include "tensor/thread_pool.h"

namespace sd {
namespace ops {

Tensor upsample_nearest2x(Compute& c, const Tensor& x) {
  kern::require(x.dim() == 4, "upsample_nearest2x", "x must be [B, C, H, W], got " + shape_str(x.shape()));
  return upsample_nearest2x_rows(c, x, 0, 2 * x.size(2));
}

Tensor upsample_nearest2x_rows(Compute& c, const Tensor& x, int64_t row0, int64_t row1) {
  kern::OpTimer timer_(c, OpTimers::Layout);
  const char* op = "upsample_nearest2x";
  kern::require_act(x, op, "x");
  kern::require(x.dim() == 4, op, "x must be [B, C, H, W], got " + shape_str(x.shape()));
  const int64_t BC = x.size(0) * x.size(1), H = x.size(2), W = x.size(3), R = row1 - row0;
  kern::require(row0 >= 0 && row0 <= row1 && row1 <= 2 * H, op, "rows out of range");
  Tensor y = kern::new_tensor(c, {x.size(0), x.size(1), R, 2 * W});  // [B, C, R, 2W]
  const float* xp = x.data_as<float>();
  float* yp = y.data_as<float>();
  parallel_for(c.pool, BC * R, balanced_grain(BC * R, 32), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {  // r = output row (bc, row0 + i)
      const int64_t bc = r / R, i = r % R;
      const float* src = xp + (bc * H + (row0 + i) / 2) * W;
      float* dst = yp + r * 2 * W;
      for (int64_t j = 0; j < W; ++j) dst[2 * j] = dst[2 * j + 1] = src[j];
    }
  });
  return y;
}

namespace {
int64_t nearest_source(int64_t i, int64_t in, int64_t out) {
  if (out == in) return i;
  if (out == 2 * in) return i >> 1;
  const float scale = float(in) / float(out);
  return std::min<int64_t>(int64_t(std::floor(float(i) * scale)), in - 1);
}
}  // namespace

Tensor upsample_nearest(Compute& c, const Tensor& x, int64_t Ho, int64_t Wo) {
  const char* op = "upsample_nearest";
  kern::require_act(x, op, "x");
  kern::require(x.dim() == 4, op, "x must be [B, C, H, W], got " + shape_str(x.shape()));
  kern::require(Ho > 0 && Wo > 0, op, "output size must be positive");
  const int64_t BC = x.size(0) * x.size(1), H = x.size(2), W = x.size(3);
  if (Ho == 2 * H && Wo == 2 * W) return upsample_nearest2x(c, x);
  kern::OpTimer timer_(c, OpTimers::Layout);
  std::vector<int64_t> cols(static_cast<size_t>(Wo));
  for (int64_t j = 0; j < Wo; ++j) cols[size_t(j)] = nearest_source(j, W, Wo);
  Tensor y = kern::new_tensor(c, {x.size(0), x.size(1), Ho, Wo});  // [B, C, Ho, Wo]
  const float* xp = x.data_as<float>();
  float* yp = y.data_as<float>();
  parallel_for(c.pool, BC * Ho, balanced_grain(BC * Ho, 32), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {  // r = output row (bc, i)
      const float* src = xp + (r / Ho * H + nearest_source(r % Ho, H, Ho)) * W;
      float* dst = yp + r * Wo;
      for (int64_t j = 0; j < Wo; ++j) dst[j] = src[cols[size_t(j)]];
    }
  });
  return y;
}

void paste_rows(Compute& c, Tensor& dst, const Tensor& src, int64_t row0) {
  kern::OpTimer timer_(c, OpTimers::Layout);
  const char* op = "paste_rows";
  kern::require_act(dst, op, "dst");
  kern::require_act(src, op, "src");
  kern::require(dst.dim() == 4 && src.dim() == 4 && src.size(0) == dst.size(0) && src.size(1) == dst.size(1) &&
                    src.size(3) == dst.size(3) && row0 >= 0 && row0 + src.size(2) <= dst.size(2),
                op, "cannot paste " + shape_str(src.shape()) + " into " + shape_str(dst.shape()) + " at row " + std::to_string(row0));
  const int64_t BC = src.size(0) * src.size(1), R = src.size(2), H = dst.size(2), W = dst.size(3);
  const float* sp = src.data_as<float>();
  float* dp = dst.data_as<float>();
  parallel_for(c.pool, BC, balanced_grain(BC, 4), [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) std::memcpy(dp + (i * H + row0) * W, sp + i * R * W, size_t(R * W) * sizeof(float));
  });
}

Tensor concat(Compute& c, const Tensor& a, const Tensor& b, int dim) {
  kern::OpTimer timer_(c, OpTimers::Layout);
  const char* op = "concat";
  kern::require_act(a, op, "a");
  kern::require_act(b, op, "b");
  if (dim < 0) dim += a.dim();
  kern::require(a.dim() == b.dim() && dim >= 0 && dim < a.dim(), op, "rank mismatch or bad dim");
  for (int i = 0; i < a.dim(); ++i)
    kern::require(i == dim || a.size(i) == b.size(i), op,
                  "cannot concat " + shape_str(a.shape()) + " and " + shape_str(b.shape()) + " on dim " + std::to_string(dim));
  Shape os = a.shape();
  os[dim] += b.size(dim);
  Tensor y = kern::new_tensor(c, os);
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < dim; ++i) outer *= a.size(i);
  for (int i = dim + 1; i < a.dim(); ++i) inner *= a.size(i);
  const int64_t na = a.size(dim) * inner, nb = b.size(dim) * inner;
  const float* ap = a.data_as<float>();
  const float* bp = b.data_as<float>();
  float* yp = y.data_as<float>();
  parallel_for(c.pool, outer, balanced_grain(outer, 1), [&](int64_t o0, int64_t o1) {
    for (int64_t o = o0; o < o1; ++o) {
      std::memcpy(yp + o * (na + nb), ap + o * na, size_t(na) * 4);
      std::memcpy(yp + o * (na + nb) + na, bp + o * nb, size_t(nb) * 4);
    }
  });
  return y;
}

Tensor transpose_last2(Compute& c, const Tensor& x) {
  kern::OpTimer timer_(c, OpTimers::Layout);
  const char* op = "transpose_last2";
  kern::require_act(x, op, "x");
  kern::require(x.dim() >= 2, op, "x needs two dims");
  const int64_t R = x.size(-2), C = x.size(-1), batch = (R && C) ? x.numel() / (R * C) : 0;
  Shape os = x.shape();
  std::swap(os[os.size() - 1], os[os.size() - 2]);
  Tensor y = kern::new_tensor(c, os);  // [..., C, R]
  const float* xp = x.data_as<float>();
  float* yp = y.data_as<float>();
  constexpr int64_t kT = 32;  // cache tile
  const int64_t rt = (R + kT - 1) / kT;
  parallel_for(c.pool, batch * rt, 1, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t bidx = i / rt, r0 = (i % rt) * kT, r1 = std::min(R, r0 + kT);
      const float* src = xp + bidx * R * C;
      float* dst = yp + bidx * R * C;
      for (int64_t c0 = 0; c0 < C; c0 += kT)
        for (int64_t r = r0; r < r1; ++r)
          for (int64_t cc = c0; cc < std::min(C, c0 + kT); ++cc) dst[cc * R + r] = src[r * C + cc];
    }
  });
  return y;
}

}  // namespace ops
}  // namespace sd
