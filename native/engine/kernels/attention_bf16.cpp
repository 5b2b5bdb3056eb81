// Attention with bf16 products (attention_bf16.h): the long-sequence
// recurrence of attention.cpp (transposed, one SIMD lane per query, online
// base-2 softmax over blocks of keys) with both GEMMs on the bf16
// micro-kernels, whose depth runs in pairs:
//   S^T [keys, queries] = K [keys, D] (scale log2(e) Q^T) [D, queries]:
//     A = K as pairs over d (packed once per (batch, head)), B = Q^T pairs
//     (rows 2p and 2p + 1 of the transposed query block);
//   O^T [D, queries] += V^T [D, keys] P^T [keys, queries]:
//     A = V^T as pairs over keys (packed once per key block), B = rows 2p
//     and 2p + 1 of P^T (f32 from the softmax) rounded into pairs.
// One path for every shape (the fp32 op's one-block path for short key
// sequences is only a speed variant of the same recurrence). Memory: the
// packed K/V (half the size of k, v) plus O(block^2) per task.
#include "kernels/attention_bf16.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "kernels/gemm_bf16.h"
#include "kernels/kernel_table.h"
#include "kernels/op_checks.h"
#include "kernels/scratch.h"
#include "tensor/thread_pool.h"

namespace sd {
namespace kern {
namespace {

constexpr int64_t kQueries = 64;                // queries per task (rounded up to nr)
constexpr int64_t kKeys = 256;                  // keys per block (rounded up to a whole number of mr panels and pairs)
constexpr float kLog2e = 1.44269504088896341f;  // e^s = 2^(s log2(e))

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
inline int64_t round_up(int64_t a, int64_t b) { return ceil_div(a, b) * b; }

}  // namespace

void attention_bf16(Compute& c, const float* qp, Tensor k, Tensor v, int64_t B, int64_t Nq, int64_t Nk, int64_t HD, int heads, bool causal,
                    float scale, float* out) {
  const Bf16Kernel* kt_ = bf16_kernel();
  if (!kt_) fail(ErrorCode::Internal, "bf16 attention called without a bf16 kernel on this CPU path");
  const Bf16Kernel& kt = *kt_;
  const Table& t = table();
  const int64_t D = HD / heads, Dp = ceil_div(D, 2), mr = kt.mr, nr = kt.nr;
  const int64_t bkf = round_up(kKeys, mr % 2 ? 2 * mr : mr), bqf = round_up(kQueries, nr);  // bkf: whole panels, even
  const int64_t kblocks = ceil_div(Nk, bkf), dpanels = ceil_div(D, mr);
  // Per (b, h), u32 pairs: K as A [key panels][Dp][mr], then per key block
  // V^T as A [D panels][block pairs][mr].
  const int64_t k_size = ceil_div(Nk, mr) * Dp * mr, v_block = dpanels * (bkf / 2) * mr;
  const int64_t bh_size = k_size + kblocks * v_block;
  Tensor packed = new_tensor(c, {B * heads, bh_size});  // f32 storage of the u32 pairs (same size)
  uint32_t* pk = reinterpret_cast<uint32_t*>(packed.data_as<float>());
  const float* kp = k.data_as<float>();
  const float* vp = v.data_as<float>();
  parallel_for(c.pool, B * heads * (kblocks + 1), 1, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t bh = i / (kblocks + 1), part = i % (kblocks + 1), b = bh / heads, h = bh % heads;
      uint32_t* base = pk + bh * bh_size;
      const float* kb = kp + b * Nk * HD + h * D;
      const float* vb = vp + b * Nk * HD + h * D;
      if (part == 0) {
        for (int64_t r0 = 0; r0 < Nk; r0 += mr)  // A(j, d) = k[j, d]
          pack_bf16_pairs(kt, {kb, DType::F32, HD, 1}, D, r0, int(std::min(mr, Nk - r0)), int(mr), 0, Dp, base + r0 * Dp);
      } else {
        const int64_t k0 = (part - 1) * bkf, bk = std::min(bkf, Nk - k0), bkp = ceil_div(bk, 2);
        uint32_t* dst = base + k_size + (part - 1) * v_block;
        for (int64_t d0 = 0; d0 < D; d0 += mr)  // A(d, j) = v[k0 + j, d]
          pack_bf16_pairs(kt, {vb + k0 * HD, DType::F32, 1, HD}, bk, d0, int(std::min(mr, D - d0)), int(mr), 0, bkp, dst + d0 * bkp);
      }
    }
  });
  k = Tensor();  // packed: the caller's references may be the last ones
  v = Tensor();
  const int64_t qblocks = ceil_div(Nq, bqf);
  parallel_for(c.pool, B * heads * qblocks, 1, [&](int64_t i0, int64_t i1) {
    float* qt = scratch(kSlotOp0, size_t(2 * Dp * bqf));                                     // Q^T [2 Dp][bq] (an odd D's last row 0)
    uint32_t* qb = reinterpret_cast<uint32_t*>(scratch(kSlotGemmA, size_t(Dp * bqf)));       // scaled Q^T pairs [panel][Dp][nr]
    float* pt = scratch(kSlotOp1, size_t(bkf * bqf));                                        // S^T / P^T [panel][bkf][nr]
    uint32_t* pb = reinterpret_cast<uint32_t*>(scratch(kSlotGemmB, size_t(bkf / 2 * bqf)));  // P^T pairs [panel][bk pairs][nr]
    float* ot = scratch(kSlotOp2, size_t(D * bqf));                                          // O^T [D][bq], unnormalised
    float* st = scratch(kSlotOp3, size_t(3 * bqf));                                          // m, l, alpha per query
    float *m = st, *l = st + bqf, *alpha = st + 2 * bqf;
    for (int64_t task = i0; task < i1; ++task) {
      const int64_t bh = task / qblocks, b = bh / heads, h = bh % heads, q0 = (task % qblocks) * bqf;
      const int64_t bq = std::min(bqf, Nq - q0), qpanels = ceil_div(bq, nr), w = qpanels * nr;
      const uint32_t* base = pk + bh * bh_size;
      std::fill(qt, qt + 2 * Dp * w, 0.f);  // padding queries (finite scores) and an odd D's pair half
      t.transpose_f32(DType::F32, qp + (b * Nq + q0) * HD + h * D, HD, bq, D, qt, w);
      for (int64_t pn = 0; pn < qpanels; ++pn)
        for (int64_t p = 0; p < Dp; ++p)
          kt.pack_rows(qt + 2 * p * w + pn * nr, qt + (2 * p + 1) * w + pn * nr, nr, scale * kLog2e, qb + (pn * Dp + p) * nr);
      std::fill(ot, ot + D * w, 0.f);
      std::fill(m, m + w, -INFINITY);
      std::fill(l, l + w, 0.f);
      const int64_t kend = causal ? q0 + bq : Nk;
      for (int64_t k0 = 0; k0 < kend; k0 += bkf) {
        const int64_t bk = std::min(bkf, kend - k0), bk_full = std::min(bkf, Nk - k0), bkp = ceil_div(bk_full, 2);
        for (int64_t pn = 0; pn < qpanels; ++pn) {
          float* pp = pt + pn * bkf * nr;                                                      // [bk_full (+1 if odd)][nr]
          gemm_bf16_packed(kt, bk, nr, Dp, base + k0 * Dp, qb + pn * Dp * nr, pp, nr, false);  // S^T rows [0, bk)
          const int64_t i0p = q0 + pn * nr;
          // Causal: key k0 + j is visible to query i0p + i iff j <= i0p + i - k0.
          if (causal)
            for (int64_t j = 0; j < bk; ++j)
              for (int64_t i = 0; i < std::min<int64_t>(nr, k0 + j - i0p); ++i) pp[j * nr + i] = -INFINITY;
          std::fill(pp + bk * nr, pp + bk_full * nr, -INFINITY);  // beyond the causal end
          t.softmax2_cols(pp, bk_full, nr, m + pn * nr, l + pn * nr, alpha + pn * nr);
          if (bk_full % 2) std::fill(pp + bk_full * nr, pp + (bk_full + 1) * nr, 0.f);  // the last pair's zero half
          for (int64_t p = 0; p < bkp; ++p) kt.pack_rows(pp + 2 * p * nr, pp + (2 * p + 1) * nr, nr, 1.f, pb + (pn * bkp + p) * nr);
        }
        for (int64_t d = 0; d < D; ++d)
          for (int64_t i = 0; i < w; ++i) ot[d * w + i] *= alpha[i];
        // O^T [D, bq] += V^T [D, bk] @ P^T [bk, bq]
        gemm_bf16_packed(kt, D, w, bkp, base + k_size + (k0 / bkf) * v_block, pb, ot, w, true);
      }
      for (int64_t i = 0; i < bq; ++i) {
        float* dst = out + (b * Nq + q0 + i) * HD + h * D;
        const float inv = 1.f / l[i];
        for (int64_t d = 0; d < D; ++d) dst[d] = ot[d * w + i] * inv;
      }
    }
  });
}

}  // namespace kern
}  // namespace sd
