// bf16 GEMM driver (gemm_bf16.h): the Goto/BLIS loops of gemm.cpp with
// operands packed as bf16 pairs. For each column block and depth block
// (whole pairs): pack A and B micro-panels in parallel, then compute fixed
// output tiles in parallel; depth blocks run in order for every tile, so
// each C element's sum is independent of the thread count.
#include "kernels/gemm_bf16.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "core/error.h"
#include "kernels/scratch.h"
#include "tensor/cpu_features.h"
#include "tensor/thread_pool.h"

namespace sd {
namespace kern {

uint32_t round_bf16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  if ((x & 0x7fffffffu) > 0x7f800000u) return (x >> 16) | 0x40;
  const uint32_t h = (x + 0x7fffu + ((x >> 16) & 1)) >> 16;
  return (h & 0x7f80u) ? h : h & 0x8000u;
}

namespace {

constexpr int64_t kKpMax = 192;         // pairs per depth block (B micro-panel 192 x 32 x 4 B = 24 KiB, in L1)
constexpr int64_t kNcMax = 2048;        // packed B block columns (L2/L3)
constexpr int64_t kMt = 96, kNt = 128;  // output tile (rows rounded up to mr, columns to nr)

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

inline uint32_t flush_bf16(uint16_t h) { return (h & 0x7f80u) ? h : h & 0x8000u; }

// Element (r, k) of the view as bf16 bits; 0 beyond the depth K.
inline uint32_t bf16_at(const MatView& v, int64_t r, int64_t k, int64_t K) {
  if (k >= K) return 0;
  const int64_t i = r * v.rs + k * v.cs;
  switch (v.dtype) {
    case DType::F32: {
      float f;  // memcpy: file-backed weights may be unaligned
      std::memcpy(&f, static_cast<const unsigned char*>(v.data) + 4 * i, 4);
      return round_bf16(f);
    }
    case DType::F16: return round_bf16(f16_to_f32(load_u16(v.data, i)));
    case DType::BF16: return flush_bf16(load_u16(v.data, i));
    default: return 0;
  }
}

// Packs rows [r0, r0 + rows) x pairs [p0, p0 + kp) of `v` ((row, depth) ->
// element; A as-is, B transposed) into a micro-panel [kp][w] of pairs.
void pack_pairs(const Bf16Kernel& kt, const MatView& v, int64_t K, int64_t r0, int rows, int w, int64_t p0, int64_t kp, uint32_t* dst) {
  if (v.dtype == DType::F32 && v.cs == 1) {
    // Depth contiguous f32 (activations, [N, K] f32 weights): whole groups of
    // 16 pairs through the vector rounding, the rest here (odd K's last pair).
    const int64_t kv = std::min(kp, K / 2 - p0) / 16 * 16;
    uint32_t tmp[kKpMax];
    for (int i = 0; i < rows; ++i) {
      const unsigned char* row = static_cast<const unsigned char*>(v.data) + 4 * ((r0 + i) * v.rs);
      if (kv > 0) {
        kt.round_pairs(row + 8 * p0, kv, tmp);
        for (int64_t p = 0; p < kv; ++p) dst[p * w + i] = tmp[p];
      }
      for (int64_t p = kv; p < kp; ++p) {
        const int64_t k = 2 * (p0 + p);
        float lo, hi = 0.f;
        std::memcpy(&lo, row + 4 * k, 4);
        if (k + 1 < K) std::memcpy(&hi, row + 4 * (k + 1), 4);
        dst[p * w + i] = round_bf16(lo) | round_bf16(hi) << 16;
      }
    }
  } else {
    for (int i = 0; i < rows; ++i)
      for (int64_t p = 0; p < kp; ++p) {
        const int64_t k = 2 * (p0 + p);
        dst[p * w + i] = bf16_at(v, r0 + i, k, K) | bf16_at(v, r0 + i, k + 1, K) << 16;
      }
  }
  for (int i = rows; i < w; ++i)
    for (int64_t p = 0; p < kp; ++p) dst[p * w + i] = 0;
}

void check_dtype(const MatView& v) {
  if (v.dtype != DType::F32 && v.dtype != DType::F16 && v.dtype != DType::BF16)
    fail(ErrorCode::ModelUnsupported, std::string("bf16 GEMM does not take ") + dtype_name(v.dtype) + " operands");
}

inline float bf16_value(uint32_t h) {
  const uint32_t x = h << 16;
  float f;
  std::memcpy(&f, &x, 4);
  return f;
}

}  // namespace

const Bf16Kernel* bf16_kernel() { return cpu_path() == CpuPath::Avx512 ? bf16_avx512_kernel() : nullptr; }

bool gemm_bf16_available() { return bf16_kernel() != nullptr; }

void pack_bf16_pairs(const Bf16Kernel& kt, const MatView& v, int64_t K, int64_t r0, int rows, int w, int64_t p0, int64_t kp,
                     uint32_t* dst) {
  check_dtype(v);
  for (int64_t c0 = 0; c0 < kp; c0 += kKpMax)  // pack_pairs' row buffer holds kKpMax pairs
    pack_pairs(kt, v, K, r0, rows, w, p0 + c0, std::min(kKpMax, kp - c0), dst + c0 * w);
}

void gemm_bf16_packed(const Bf16Kernel& kt, int64_t M, int64_t N, int64_t kp, const uint32_t* pa, const uint32_t* pb, float* C, int64_t ldc,
                      bool acc) {
  for (int64_t j = 0; j < N; j += kt.nr) {
    const uint32_t* bp = pb + (j / kt.nr) * kt.nr * kp;
    const int n = int(std::min<int64_t>(kt.nr, N - j));
    for (int64_t i = 0; i < M; i += kt.mr) {
      const int m = int(std::min<int64_t>(kt.mr, M - i));
      (m <= kt.mr_short ? kt.ukernel_short : kt.ukernel)(kp, pa + (i / kt.mr) * kt.mr * kp, bp, C + i * ldc + j, ldc, m, n, acc);
    }
  }
}

void gemm_bf16(ThreadPool* pool, int64_t M, int64_t N, int64_t K, const MatView& A, const MatView& B, float* C, int64_t ldc,
               const float* bias_n) {
  const Bf16Kernel* kt = bf16_kernel();
  if (!kt) fail(ErrorCode::Internal, "bf16 GEMM called without a bf16 kernel on this CPU path");
  if (M <= 0 || N <= 0) return;
  check_dtype(A);
  check_dtype(B);
  const int mr = kt->mr, nr = kt->nr;
  auto init_rows = [&](int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
    for (int64_t i = m0; i < m1; ++i)
      for (int64_t j = n0; j < n1; ++j) C[i * ldc + j] = bias_n ? bias_n[j] : 0.f;
  };
  if (K <= 0) {
    init_rows(0, M, 0, N);
    return;
  }
  const int64_t P = ceil_div(K, 2);
  const int64_t kp_full = ceil_div(P, ceil_div(P, kKpMax)), kblocks = ceil_div(P, kp_full);
  const int64_t nblocks = ceil_div(N, kNcMax), nc_full = ceil_div(ceil_div(N, nblocks), nr) * nr;
  const int64_t mt = ceil_div(kMt, mr) * mr, nt = ceil_div(kNt, nr) * nr;
  const int64_t a_panels = ceil_div(M, mr);
  const MatView Bt{B.data, B.dtype, B.cs, B.rs};  // (n, k) -> B(k, n)
  // Packed pairs live in the float scratch slots (same size, 64-byte aligned).
  uint32_t* pa = reinterpret_cast<uint32_t*>(scratch(kSlotGemmA, size_t(a_panels * mr * kp_full)));
  uint32_t* pb = reinterpret_cast<uint32_t*>(scratch(kSlotGemmB, size_t(nc_full * kp_full)));

  for (int64_t n0 = 0; n0 < N; n0 += nc_full) {
    const int64_t nc = std::min(nc_full, N - n0), b_panels = ceil_div(nc, nr);
    for (int64_t kb = 0; kb < kblocks; ++kb) {
      const int64_t p0 = kb * kp_full, kp = std::min(kp_full, P - p0);
      parallel_for(pool, a_panels + b_panels, 4, [&](int64_t q0, int64_t q1) {
        for (int64_t q = q0; q < q1; ++q) {
          if (q < a_panels) {
            const int64_t r0 = q * mr;
            pack_pairs(*kt, A, K, r0, int(std::min<int64_t>(mr, M - r0)), mr, p0, kp, pa + q * mr * kp);
          } else {
            const int64_t c0 = n0 + (q - a_panels) * nr;
            pack_pairs(*kt, Bt, K, c0, int(std::min<int64_t>(nr, n0 + nc - c0)), nr, p0, kp, pb + (q - a_panels) * nr * kp);
          }
        }
      });
      const int64_t tiles_m = ceil_div(M, mt), tiles_n = ceil_div(nc, nt);
      parallel_for(pool, tiles_m * tiles_n, 1, [&](int64_t t0, int64_t t1) {
        for (int64_t tile = t0; tile < t1; ++tile) {
          const int64_t m0 = (tile / tiles_n) * mt, m1 = std::min(M, m0 + mt);
          const int64_t j0 = (tile % tiles_n) * nt, j1 = std::min(nc, j0 + nt);
          bool acc = kb > 0;
          if (kb == 0 && bias_n) {
            init_rows(m0, m1, n0 + j0, n0 + j1);
            acc = true;
          }
          gemm_bf16_packed(*kt, m1 - m0, j1 - j0, kp, pa + (m0 / mr) * mr * kp, pb + (j0 / nr) * nr * kp, C + m0 * ldc + n0 + j0, ldc, acc);
        }
      });
    }
  }
}

void gemm_bf16_reference(int64_t M, int64_t N, int64_t K, const MatView& A, const MatView& B, float* C, int64_t ldc, const float* bias_n) {
  check_dtype(A);
  check_dtype(B);
  const MatView Bt{B.data, B.dtype, B.cs, B.rs};
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      float acc = 0.f;
      for (int64_t k = 0; k < K; k += 2) {
        // Each product of two bf16 values is exact in f32; the sums round.
        acc += bf16_value(bf16_at(A, i, k + 1, K)) * bf16_value(bf16_at(Bt, j, k + 1, K));
        acc += bf16_value(bf16_at(A, i, k, K)) * bf16_value(bf16_at(Bt, j, k, K));
      }
      C[i * ldc + j] = bias_n ? acc + bias_n[j] : acc;
    }
}

}  // namespace kern
}  // namespace sd
