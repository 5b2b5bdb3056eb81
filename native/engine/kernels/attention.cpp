// ops::attention: tiled online-softmax attention (FlashAttention's
// recurrence, on the CPU). One task per (batch, head, block of kBq queries)
// walks the keys in blocks of kBk: S = scale * Q K^T for the block, running
// row max m and sum l, O = O * exp(m_old - m_new) + P V. Memory per task is
// O(kBq * kBk), never O(Nq * Nk).
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
constexpr int64_t kBk = 256;  // keys per block

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
  const float* qp = q.data_as<float>();
  const float* kp = k.data_as<float>();
  const float* vp = v.data_as<float>();
  float* op_ = out.data_as<float>();
  const int64_t qblocks = (Nq + kBq - 1) / kBq;
  const kern::Table& t = kern::table();
  parallel_for(c.pool, B * heads * qblocks, 1, [&](int64_t i0, int64_t i1) {
    float* S = kern::scratch(kern::kSlotOp0, size_t(kBq * kBk));  // [bq, bk] scores -> probabilities
    float* O = kern::scratch(kern::kSlotOp1, size_t(kBq * D));    // [bq, D] unnormalised output
    float* m = kern::scratch(kern::kSlotOp2, size_t(2 * kBq));    // running max [bq], then sum [bq]
    float* l = m + kBq;
    for (int64_t task = i0; task < i1; ++task) {
      const int64_t b = task / (heads * qblocks), h = (task / qblocks) % heads, q0 = (task % qblocks) * kBq;
      const int64_t bq = std::min(kBq, Nq - q0);
      const float* qb = qp + (b * Nq + q0) * HD + h * D;  // rows stride HD
      std::fill(O, O + bq * D, 0.f);
      std::fill(m, m + bq, -INFINITY);
      std::fill(l, l + bq, 0.f);
      const int64_t kend = causal ? q0 + bq : Nk;
      for (int64_t k0 = 0; k0 < kend; k0 += kBk) {
        const int64_t bk = std::min(kBk, kend - k0);
        const float* kb = kp + (b * Nk + k0) * HD + h * D;
        const float* vb = vp + (b * Nk + k0) * HD + h * D;
        // S [bq, bk] = Q [bq, D] @ K^T [D, bk]
        kern::gemm(nullptr, bq, bk, D, {qb, DType::F32, HD, 1}, {kb, DType::F32, 1, HD}, S, bk);
        for (int64_t i = 0; i < bq; ++i) {
          float* s = S + i * bk;
          // causal: key k0 + j visible to query q0 + i iff j <= q0 + i - k0
          const int64_t valid = causal ? std::min(bk, q0 + i - k0 + 1) : bk;
          for (int64_t j = 0; j < valid; ++j) s[j] *= scale;
          const float mnew = std::max(m[i], t.max_of(s, valid));
          const float alpha = std::exp(m[i] - mnew);
          const float sum = t.exp_shift_sum(s, valid, mnew);
          std::fill(s + valid, s + bk, 0.f);
          l[i] = l[i] * alpha + sum;
          m[i] = mnew;
          if (alpha != 1.f) t.axpby(O + i * D, O + i * D, D, alpha, 0.f);
        }
        // O [bq, D] += P [bq, bk] @ V [bk, D]
        kern::gemm(nullptr, bq, D, bk, {S, DType::F32, bk, 1}, {vb, DType::F32, HD, 1}, O, D, nullptr, nullptr, true);
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
