// ops::attention: tiled online-softmax attention (FlashAttention's
// recurrence) computed transposed, so that the query index runs along the
// SIMD lanes everywhere:
//   S^T [keys, queries] = K (scale Q)^T is written by the GEMM micro-kernel
//   straight into packed-B layout (ldc = nr), softmax statistics are per
//   column (one lane per query), and O^T [D, queries] += V^T P^T consumes
//   that buffer as its B operand with no repacking.
// K and V^T of every (batch, head) are packed once as GEMM A operands. One
// task per (batch, head, block of queries) walks the keys in blocks. Memory:
// the packed K/V (same size as k, v) plus O(block^2) per task, never
// O(Nq * Nk). Up to kOneBlockKeys unmasked keys (cross-attention) take a
// single-block path without the online rescaling.
#include <algorithm>
#include <cmath>

#include "kernels/attention_bf16.h"
#include "kernels/gemm.h"
#include "kernels/gemm_bf16.h"
#include "kernels/kernel_table.h"
#include "kernels/op_checks.h"
#include "kernels/ops.h"
#include "kernels/scratch.h"
#include "tensor/thread_pool.h"

namespace sd {
namespace ops {
namespace {

constexpr int64_t kQueries = 64;  // queries per task (rounded up to nr)
constexpr int64_t kKeys = 256;    // keys per block (rounded up to mr)

inline int64_t round_up(int64_t a, int64_t b) { return (a + b - 1) / b * b; }

// Without a mask, up to this many keys are one block: the whole score
// column of a query fits in L1, so the softmax needs no running max or
// rescaling (cross-attention to the 77 text tokens, small self-attention).
constexpr int64_t kOneBlockKeys = 256;
constexpr int64_t kPanelsPerChunk = 4;          // query panels a thread takes at once (it prefetches the next one)
constexpr float kLog2e = 1.44269504088896341f;  // e^s = 2^(s log2(e)): the softmax runs in base 2

// Prefetches rows [0, rows) x columns [0, len) of a row-major f32 matrix
// (row stride ld), for reading or writing.
inline void prefetch_slice(const float* p, int64_t rows, int64_t ld, int64_t len, bool write) {
#if defined(__GNUC__) || defined(__clang__)
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t i = 0; i < len; i += 16) {
      if (write)
        __builtin_prefetch(p + r * ld + i, 1);
      else
        __builtin_prefetch(p + r * ld + i, 0);
    }
#else
  (void)p, (void)rows, (void)ld, (void)len, (void)write;
#endif
}

// attention() for !causal and Nk <= kOneBlockKeys. Per (batch, head) scale*K
// and V^T are packed once as GEMM A operands; then per panel of nr queries:
//   Q^T [H*D][nr] by one 8x8-blocked transpose of the panel's rows;
//   per head: S^T [Nk, nr] = (scale log2(e) K) Q^T,
//   P^T = 2^(S^T - column max) with column sums l, O^T [D, nr] = V^T P^T / l;
//   out rows = (O^T)^T by one transpose.
void attention_one_block(Compute& c, const float* qp, const float* kp, const float* vp, int64_t B, int64_t Nq, int64_t Nk, int64_t HD,
                         int heads, float scale, float* out) {
  const kern::Table& t = kern::table();
  const int64_t D = HD / heads, mr = t.mr, nr = t.nr;
  const int64_t k_size = round_up(Nk, mr) * D, bh_size = k_size + round_up(D, mr) * Nk;
  Tensor packed = kern::new_tensor(c, {B * heads, bh_size});  // per (b, h): K [key panels][D][mr], V^T [D panels][Nk][mr]
  float* pk = packed.data_as<float>();
  parallel_for(c.pool, B * heads * 2, 1, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t bh = i / 2, b = bh / heads, h = bh % heads, off = (b * Nk) * HD + h * D;
      float* base = pk + bh * bh_size;
      if (i % 2 == 0)
        kern::pack_a({kp + off, DType::F32, HD, 1}, 0, Nk, 0, D, base, scale * kLog2e);  // A(j, d) = scale log2(e) k[j, d]
      else
        kern::pack_a({vp + off, DType::F32, 1, HD}, 0, D, 0, Nk, base + k_size);  // A(d, j) = v[j, d]
    }
  });
  // A task is a panel of nr queries of one image for all heads, so q and out
  // are read / written as whole rows by one transpose each.
  const int64_t qpanels = (Nq + nr - 1) / nr;
  // S^T runs over whole register tiles (no partial-tile stores); its padding
  // key row (a zero K row) is left out of the softmax, and O^T reads only
  // the Nk real rows. O^T's last tile of D rows takes the short kernel.
  const int64_t nk_pad = round_up(Nk, mr);
  parallel_for(c.pool, B * qpanels, kPanelsPerChunk, [&](int64_t i0, int64_t i1) {
    float* qt = kern::scratch(kern::kSlotOp0, size_t(HD * nr));      // Q^T panel [H*D][nr]
    float* pt = kern::scratch(kern::kSlotOp1, size_t(nk_pad * nr));  // S^T / P^T [Nk (padded)][nr]
    float* ot = kern::scratch(kern::kSlotOp2, size_t(HD * nr));      // O^T [H*D][nr]
    float* st = kern::scratch(kern::kSlotOp3, size_t(3 * nr));       // column max, sum, rescale (unused)
    float *m = st, *l = st + nr, *alpha = st + 2 * nr;
    for (int64_t task = i0; task < i1; ++task) {
      const int64_t b = task / qpanels, q0 = (task % qpanels) * nr;
      const int64_t cnt = std::min(nr, Nq - q0), row = (b * Nq + q0) * HD;  // query q0's row
      if (cnt < nr) std::fill(qt, qt + HD * nr, 0.f);                       // padding queries: finite scores
      t.transpose_f32(DType::F32, qp + row, HD, cnt, HD, qt, nr);
      for (int h = 0; h < heads; ++h) {
        // The next panel's rows of q and out, one head's slice at a time: a
        // transpose touches 16 rows 1-5 KB apart, which the hardware
        // prefetchers do not follow.
        const int64_t next = task + 1;
        if (next < i1) {
          const int64_t nb = next / qpanels, nq = (next % qpanels) * nr, n_rows = std::min(nr, Nq - nq);
          prefetch_slice(qp + (nb * Nq + nq) * HD + h * D, n_rows, HD, D, false);
          prefetch_slice(out + (nb * Nq + nq) * HD + h * D, n_rows, HD, D, true);
        }
        const float* base = pk + (b * heads + h) * bh_size;
        float* oh = ot + h * D * nr;
        kern::gemm_packed(nk_pad, nr, D, base, qt + h * D * nr, pt, nr, false);
        std::fill(m, m + nr, -INFINITY);
        std::fill(l, l + nr, 0.f);
        t.softmax2_cols(pt, Nk, nr, m, l, alpha);
        kern::gemm_packed(D, nr, Nk, base + k_size, pt, oh, nr, false);
        for (int64_t i = 0; i < nr; ++i) l[i] = 1.f / l[i];
        for (int64_t d = 0; d < D; ++d)
          for (int64_t i = 0; i < nr; ++i) oh[d * nr + i] *= l[i];
      }
      t.transpose_f32(DType::F32, ot, nr, HD, cnt, out + row, HD);
    }
  });
}

}  // namespace

Tensor attention(Compute& c, Tensor q, Tensor k, Tensor v, int heads, bool causal, float scale) {
  kern::OpTimer timer_(c, OpTimers::Attention);
  const char* op = "attention";
  kern::require_act(q, op, "q");
  kern::require_act(k, op, "k");
  kern::require_act(v, op, "v");
  kern::require(q.dim() == 3 && k.dim() == 3 && v.dim() == 3, op, "q/k/v must be [B, N, H*D]");
  const int64_t B = q.size(0), Nq = q.size(1), HD = q.size(2), Nk = k.size(1);
  kern::require(k.size(0) == B && v.size(0) == B && k.size(2) == HD && v.size(2) == HD && v.size(1) == Nk, op,
                "q " + shape_str(q.shape()) + ", k " + shape_str(k.shape()) + ", v " + shape_str(v.shape()) + " do not match");
  kern::require(heads > 0 && HD % heads == 0, op, "H*D not divisible by heads");
  kern::require(!causal || Nq == Nk, op, "causal attention needs Nq == Nk");
  kern::require(Nk > 0 || Nq == 0, op, "no keys");
  const int64_t D = HD / heads;
  if (q.numel() == 0) return kern::new_tensor(c, {B, Nq, HD});
  // The output [B, Nq, H*D] takes q's storage when the caller handed over its
  // last reference: every task reads its slice of q before it writes the
  // same slice of the output, and no other task touches that slice.
  Tensor out = q.owner().use_count() == 1 ? q : kern::new_tensor(c, {B, Nq, HD});
  const float* qp = q.data_as<float>();
  const float* kp = k.data_as<float>();
  const float* vp = v.data_as<float>();
  float* op_ = out.data_as<float>();
  if (c.bf16 && kern::gemm_bf16_available()) {  // precision "fast"
    kern::attention_bf16(c, qp, std::move(k), std::move(v), B, Nq, Nk, HD, heads, causal, scale, op_);
    return out;
  }
  if (!causal && Nk <= kOneBlockKeys) {
    attention_one_block(c, qp, kp, vp, B, Nq, Nk, HD, heads, scale, op_);
    return out;
  }
  const kern::Table& t = kern::table();
  const int64_t mr = t.mr, nr = t.nr, bkf = round_up(kKeys, mr), bqf = round_up(kQueries, nr);
  const int64_t kblocks = (Nk + bkf - 1) / bkf;
  // Per (b, h): K as A operand [key panels][D][mr]; V^T as A operand per key
  // block [D panels][bk][mr]. K is packed and dropped before V is packed, so
  // with the caller's k and v moved in at most four of q, k, v, packed K and
  // packed V are alive at once (10.5 MB each at 4096 tokens for the CFG batch).
  const int64_t k_size = round_up(Nk, mr) * D, v_block = round_up(D, mr) * bkf, v_size = kblocks * v_block;
  Tensor packed_k = kern::new_tensor(c, {B * heads, k_size});
  float* pk = packed_k.data_as<float>();
  parallel_for(c.pool, B * heads, 1, [&](int64_t i0, int64_t i1) {
    for (int64_t bh = i0; bh < i1; ++bh)  // A(j, d) = k[j, d]
      kern::pack_a({kp + (bh / heads) * Nk * HD + (bh % heads) * D, DType::F32, HD, 1}, 0, Nk, 0, D, pk + bh * k_size);
  });
  k = Tensor();
  Tensor packed_v = kern::new_tensor(c, {B * heads, v_size});
  float* pv = packed_v.data_as<float>();
  parallel_for(c.pool, B * heads * kblocks, 1, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t bh = i / kblocks, k0 = (i % kblocks) * bkf, bk = std::min(bkf, Nk - k0);
      const float* vb = vp + (bh / heads) * Nk * HD + (bh % heads) * D;
      kern::pack_a({vb, DType::F32, 1, HD}, 0, D, k0, bk, pv + bh * v_size + (i % kblocks) * v_block);  // A(d, j) = v[j, d]
    }
  });
  v = Tensor();
  const int64_t qblocks = (Nq + bqf - 1) / bqf;
  parallel_for(c.pool, B * heads * qblocks, 1, [&](int64_t i0, int64_t i1) {
    float* qb_ = kern::scratch(kern::kSlotOp0, size_t(bqf * D));   // scale*Q^T as B panels [D][nr]
    float* pt = kern::scratch(kern::kSlotOp1, size_t(bkf * bqf));  // S^T / P^T as B panels [bk][nr]
    float* ot = kern::scratch(kern::kSlotOp2, size_t(D * bqf));    // O^T [D, bq], unnormalised
    float* st = kern::scratch(kern::kSlotOp3, size_t(3 * bqf));    // m, l, alpha per query
    float *m = st, *l = st + bqf, *alpha = st + 2 * bqf;
    for (int64_t task = i0; task < i1; ++task) {
      const int64_t bh = task / qblocks, b = bh / heads, h = bh % heads, q0 = (task % qblocks) * bqf;
      const int64_t bq = std::min(bqf, Nq - q0), qpanels = (bq + nr - 1) / nr, w = qpanels * nr;
      const float* kbase = pk + bh * k_size;
      const float* vbase = pv + bh * v_size;
      kern::pack_b({qp + (b * Nq + q0) * HD + h * D, DType::F32, 1, HD}, 0, bq, 0, D, qb_, scale * kLog2e);  // B(d, i)
      std::fill(ot, ot + D * w, 0.f);
      std::fill(m, m + w, -INFINITY);
      std::fill(l, l + w, 0.f);
      const int64_t kend = causal ? q0 + bq : Nk;
      for (int64_t k0 = 0; k0 < kend; k0 += bkf) {
        const int64_t bk = std::min(bkf, kend - k0), bk_full = std::min(bkf, Nk - k0);
        // S^T [bk, bq] = K [bk, D] @ (scale Q^T) [D, bq], panel by panel into P^T layout.
        for (int64_t p = 0; p < qpanels; ++p)
          kern::gemm_packed(bk, std::min(nr, bq - p * nr), D, kbase + k0 * D, qb_ + p * nr * D, pt + p * bk_full * nr, nr, false);
        for (int64_t p = 0; p < qpanels; ++p) {
          float* pp = pt + p * bk_full * nr;  // [bk_full][nr]
          const int64_t i0p = p * nr;
          // Causal: key k0 + j is visible to query q0 + i0p + i iff j <= q0 + i0p + i - k0.
          if (causal)
            for (int64_t j = 0; j < bk; ++j)
              for (int64_t i = 0; i < std::min<int64_t>(nr, k0 + j - q0 - i0p); ++i) pp[j * nr + i] = -INFINITY;
          for (int64_t j = bk; j < bk_full; ++j)
            for (int64_t i = 0; i < nr; ++i) pp[j * nr + i] = -INFINITY;  // beyond the causal end
          t.softmax2_cols(pp, bk_full, nr, m + i0p, l + i0p, alpha + i0p);
        }
        for (int64_t d = 0; d < D; ++d)
          for (int64_t i = 0; i < w; ++i) ot[d * w + i] *= alpha[i];
        // O^T [D, bq] += V^T [D, bk] @ P^T [bk, bq]
        kern::gemm_packed(D, w, bk_full, vbase + (k0 / bkf) * v_block, pt, ot, w, true);
      }
      for (int64_t i = 0; i < bq; ++i) {
        float* dst = op_ + (b * Nq + q0 + i) * HD + h * D;
        const float inv = 1.f / l[i];
        for (int64_t d = 0; d < D; ++d) dst[d] = ot[d * w + i] * inv;
      }
    }
  });
  return out;
}

}  // namespace ops
}  // namespace sd
