// ops::attention: tiled online-softmax attention (FlashAttention's
// recurrence, on the CPU). K^T and V of every (batch, head) are first packed
// once into GEMM micro-panels; then one task per (batch, head, block of kBq
// queries) walks the keys in blocks of kBk: S = (scale Q) K^T, running row
// max m and sum l, O = O * exp(m_old - m_new) + P V, where P is written
// straight into packed-A layout. Memory: the packed K/V (same size as k, v)
// plus O(kBq * kBk) per task, never O(Nq * Nk).
#include <algorithm>
#include <cmath>

#include "kernels/gemm.h"
#include "kernels/kernel_table.h"
#include "kernels/op_checks.h"
#include "kernels/ops.h"
#include "kernels/scratch.h"
#include "tensor/thread_pool.h"

namespace sd {
namespace ops {
namespace {

constexpr int64_t kBq = 64;   // query rows per task
constexpr int64_t kBk = 256;  // keys per block (a multiple of every path's nr)

inline int64_t round_up(int64_t a, int64_t b) { return (a + b - 1) / b * b; }

}  // namespace

Tensor attention(Compute& c, const Tensor& q, const Tensor& k, const Tensor& v, int heads, bool causal, float scale) {
  const char* op = "attention";
  kern::require_act(q, op, "q");
  kern::require_act(k, op, "k");
  kern::require_act(v, op, "v");
  kern::require(q.dim() == 3 && k.dim() == 3 && v.dim() == 3, op, "q/k/v must be [B, N, H*D]");
  const int64_t B = q.size(0), Nq = q.size(1), HD = q.size(2), Nk = k.size(1);
  kern::require(k.size(0) == B && v.size(0) == B && k.size(2) == HD && v.size(2) == HD && v.size(1) == Nk, op,
                "q " + shape_str(q.shape()) + ", k " + shape_str(k.shape()) + ", v " + shape_str(v.shape()) +
                    " do not match");
  kern::require(heads > 0 && HD % heads == 0, op, "H*D not divisible by heads");
  kern::require(!causal || Nq == Nk, op, "causal attention needs Nq == Nk");
  kern::require(Nk > 0 || Nq == 0, op, "no keys");
  const int64_t D = HD / heads;
  Tensor out = Tensor::empty(DType::F32, {B, Nq, HD});  // [B, Nq, H*D]
  if (out.numel() == 0) return out;
  const float* qp = q.data_as<float>();
  const float* kp = k.data_as<float>();
  const float* vp = v.data_as<float>();
  float* op_ = out.data_as<float>();
  const kern::Table& t = kern::table();
  const int64_t mr = t.mr, nr = t.nr;
  const int64_t kblocks = (Nk + kBk - 1) / kBk;
  // Per (b, h): K^T packed as B operand [keys in nr panels][D][nr], then V
  // packed per key block as B operand [D in nr panels][bk][nr].
  const int64_t k_size = round_up(Nk, nr) * D, v_block = round_up(D, nr) * kBk;
  const int64_t bh_size = k_size + kblocks * v_block;
  Tensor packed = Tensor::empty(DType::F32, {B * heads, bh_size});
  float* pk = packed.data_as<float>();
  parallel_for(c.pool, B * heads * (kblocks + 1), 1, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t bh = i / (kblocks + 1), part = i % (kblocks + 1), b = bh / heads, h = bh % heads;
      float* base = pk + bh * bh_size;
      const float* kb = kp + b * Nk * HD + h * D;
      const float* vb = vp + b * Nk * HD + h * D;
      if (part == 0) {
        kern::pack_b({kb, DType::F32, 1, HD}, 0, Nk, 0, D, base);  // B(d, j) = k[j, d]
      } else {
        const int64_t k0 = (part - 1) * kBk, bk = std::min(kBk, Nk - k0);
        kern::pack_b({vb, DType::F32, HD, 1}, 0, D, k0, bk, base + k_size + (part - 1) * v_block);  // B(j, d) = v[j, d]
      }
    }
  });
  const int64_t qblocks = (Nq + kBq - 1) / kBq;
  parallel_for(c.pool, B * heads * qblocks, 1, [&](int64_t i0, int64_t i1) {
    const int64_t bq_pad = round_up(kBq, mr);
    float* S = kern::scratch(kern::kSlotOp0, size_t(kBq * kBk));      // [bq, bk] scaled scores
    float* O = kern::scratch(kern::kSlotOp1, size_t(kBq * D));        // [bq, D] unnormalised output
    float* m = kern::scratch(kern::kSlotOp2, size_t(2 * kBq));        // running max [bq], then sum [bq]
    float* pq = kern::scratch(kern::kSlotOp3, size_t(bq_pad * (D + kBk)));  // packed scale*Q, then packed P
    float* pp = pq + bq_pad * D;
    float* l = m + kBq;
    for (int64_t task = i0; task < i1; ++task) {
      const int64_t bh = task / qblocks, b = bh / heads, h = bh % heads, q0 = (task % qblocks) * kBq;
      const int64_t bq = std::min(kBq, Nq - q0);
      const float* base = pk + bh * bh_size;
      kern::pack_a({qp + (b * Nq + q0) * HD + h * D, DType::F32, HD, 1}, 0, bq, 0, D, pq, scale);
      std::fill(O, O + bq * D, 0.f);
      std::fill(m, m + bq, -INFINITY);
      std::fill(l, l + bq, 0.f);
      const int64_t kend = causal ? q0 + bq : Nk;
      for (int64_t k0 = 0; k0 < kend; k0 += kBk) {
        const int64_t bk = std::min(kBk, kend - k0), kb = k0 / kBk;
        const int64_t bk_full = std::min(kBk, Nk - k0);  // depth V was packed with
        // S [bq, bk] = (scale Q) [bq, D] @ K^T [D, bk]
        kern::gemm_packed(bq, bk, D, pq, base + (k0 / nr) * nr * D, S, kBk, false);
        for (int64_t i = 0; i < bq; ++i) {
          float* s = S + i * kBk;
          // causal: key k0 + j is visible to query q0 + i iff j <= q0 + i - k0
          const int64_t valid = causal ? std::min(bk, q0 + i - k0 + 1) : bk;
          const float mnew = std::max(m[i], t.max_of(s, valid));
          const float alpha = std::exp(m[i] - mnew);
          l[i] = l[i] * alpha + t.exp_shift_sum(s, valid, mnew);
          m[i] = mnew;
          if (alpha != 1.f) t.axpby(O + i * D, O + i * D, D, alpha, 0.f);
          // P row i into packed-A layout [panel][bk_full][mr]; masked keys 0.
          float* dst = pp + (i / mr) * mr * bk_full + i % mr;
          for (int64_t j = 0; j < valid; ++j) dst[j * mr] = s[j];
          for (int64_t j = valid; j < bk_full; ++j) dst[j * mr] = 0.f;
        }
        // O [bq, D] += P [bq, bk] @ V [bk, D]
        kern::gemm_packed(bq, D, bk_full, pp, base + k_size + kb * v_block, O, D, true);
      }
      for (int64_t i = 0; i < bq; ++i) {
        float* dst = op_ + (b * Nq + q0 + i) * HD + h * D;
        const float inv = 1.f / l[i];
        for (int64_t d = 0; d < D; ++d) dst[d] = O[i * D + d] * inv;
      }
    }
  });
  return out;
}

}  // namespace ops
}  // namespace sd
