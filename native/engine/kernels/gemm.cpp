// Packed, cache-blocked GEMM driver (Goto/BLIS loop structure):
//   for each column block jc (nc) and depth block pc (kc):
//     pack A[:, pc] into mr-row micro-panels and B[pc, jc] into nr-column
//     micro-panels (converting f16/bf16 to f32 or decoding quantized blocks
//     on the way), in parallel;
//     then compute fixed output tiles (kMt x kNt) in parallel, each a loop of
//     register-tiled micro-kernel calls.
// The depth blocks are visited in order by every tile, so each C element is
// summed in the same order whatever the thread count.
#include "kernels/gemm.h"

#include <algorithm>
#include <cstring>

#include "core/error.h"
#include "kernels/kernel_table.h"
#include "kernels/quant_table.h"
#include "kernels/scratch.h"
#include "tensor/thread_pool.h"

namespace sd {
namespace kern {
namespace {

constexpr int64_t kKcMax = 384;          // conversion chunk; the largest depth block
constexpr int64_t kMaxBlock = 256;       // largest quantization block (k-quants)
constexpr int64_t kBPanelBytes = 24576;  // packed B micro-panel (kc x nr floats) kept in L1
constexpr int64_t kNcMax = 2048;         // packed B block (kc x nc) stays in L2/L3
constexpr int64_t kMt = 96;              // output tile rows (A tile kMt x kc in L2)
constexpr int64_t kNt = 128;             // output tile columns

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

inline float load(const MatView& v, int64_t r, int64_t c) {
  int64_t i = r * v.rs + c * v.cs;
  switch (v.dtype) {
    case DType::F32: {
      float f;  // memcpy: file-backed weights may sit at unaligned addresses
      std::memcpy(&f, static_cast<const unsigned char*>(v.data) + 4 * i, 4);
      return f;
    }
    case DType::F16: return f16_to_f32(load_u16(v.data, i));
    case DType::BF16: return bf16_to_f32(load_u16(v.data, i));
    default: return 0.f;
  }
}

inline const void* addr(const MatView& v, int64_t r, int64_t c) {
  int64_t i = r * v.rs + c * v.cs;
  return static_cast<const char*>(v.data) + i * (v.dtype == DType::F32 ? 4 : 2);
}

// Packs rows [r0, r0 + rows) x depth [k0, k0 + kc) of an operand whose "row"
// index runs along the micro-panel width w (mr for A, nr for B). `v` is given
// as (panel index, depth) -> element, i.e. A as-is and B transposed. The
// values are placed exactly, then times `scale` (one rounding either way).
void pack_panel(const Table& t, const MatView& v, int64_t r0, int rows, int w, int64_t k0, int64_t kc, float* dst, float scale) {
  if (dtype_is_quantized(v.dtype)) {
    // Block-quantized rows (depth contiguous, rs whole blocks; check_dtype):
    // for 8 rows at a time, the blocks covering each depth chunk are decoded
    // into tmp, then transposed into the panel, so no f32 copy of the weight
    // is ever made.
    const int64_t bs = dtype_block_size(v.dtype), bb = dtype_block_bytes(v.dtype);
    const QuantTable& qt = quant_table();
    constexpr int64_t kPitch = kKcMax + 2 * kMaxBlock;
    float tmp[8 * kPitch];
    for (int i0 = 0; i0 < rows; i0 += 8) {
      const int n = std::min(8, rows - i0);
      for (int64_t kk = 0; kk < kc; kk += kKcMax) {
        const int64_t len = std::min(kKcMax, kc - kk), b0 = (k0 + kk) / bs, off = (k0 + kk) % bs;
        const int64_t nb = (off + len + bs - 1) / bs;
        for (int i = 0; i < n; ++i) {
          const unsigned char* row = static_cast<const unsigned char*>(v.data) + (r0 + i0 + i) * (v.rs / bs) * bb;
          qt.dequantize(v.dtype, row + b0 * bb, nb * bs, tmp + i * kPitch);
        }
        t.transpose_f32(DType::F32, tmp + off, kPitch, n, len, dst + kk * w + i0, w);
      }
    }
  } else if (v.cs == 1) {
    // Depth contiguous (A row-major, or B stored [N, K] like Linear weights):
    // a transpose, converting on the way (8x8 register blocks on SIMD paths).
    t.transpose_f32(v.dtype, addr(v, r0, k0), v.rs, rows, kc, dst, w);
  } else if (v.rs == 1) {
    // Panel direction contiguous (B stored [K, N], A stored column-major).
    for (int64_t k = 0; k < kc; ++k) t.convert_to_f32(v.dtype, addr(v, r0, k0 + k), rows, dst + k * w);
  } else {
    for (int64_t k = 0; k < kc; ++k)
      for (int i = 0; i < rows; ++i) dst[k * w + i] = load(v, r0 + i, k0 + k);
  }
  for (int64_t k = 0; k < kc; ++k) {
    float* d = dst + k * w;
    if (scale != 1.f)
      for (int i = 0; i < rows; ++i) d[i] *= scale;
    for (int i = rows; i < w; ++i) d[i] = 0.f;
  }
}

// B as the packer reads it: (n, k) -> B(k, n).
MatView transposed(const MatView& B) { return {B.data, B.dtype, B.cs, B.rs}; }

// v as pack_panel reads it ((panel index, depth) -> element).
void check_dtype(const MatView& v) {
  if (dtype_is_quantized(v.dtype)) {
    if (v.cs != 1 || v.rs % dtype_block_size(v.dtype) != 0 || dtype_block_size(v.dtype) > kMaxBlock)
      fail(ErrorCode::Internal, std::string("GEMM takes ") + dtype_name(v.dtype) + " operands only as rows of whole blocks");
    return;
  }
  if (v.dtype != DType::F32 && v.dtype != DType::F16 && v.dtype != DType::BF16)
    fail(ErrorCode::ModelUnsupported, std::string("GEMM does not take ") + dtype_name(v.dtype) + " operands");
}

// Depth blocking shared by gemm() and PackedA: K in equal blocks small
// enough that a B micro-panel stays in L1 (384 for nr 16, 192 for nr 32).
int64_t depth_block(int64_t K) {
  const int64_t kc_max = std::min<int64_t>(kKcMax, kBPanelBytes / (4 * table().nr));
  return K <= 0 ? 1 : ceil_div(K, ceil_div(K, kc_max));
}

void gemm_impl(ThreadPool* pool, int64_t M, int64_t N, int64_t K, const MatView& A, const MatView& B, float* C, int64_t ldc,
               const float* bias_n, const float* bias_m, bool accumulate) {
  if (M <= 0 || N <= 0) return;
  check_dtype(A);
  check_dtype(transposed(B));
  const Table& t = table();
  const int mr = t.mr, nr = t.nr;
  auto init_rows = [&](int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
    for (int64_t i = m0; i < m1; ++i) {
      float* c = C + i * ldc;
      for (int64_t j = n0; j < n1; ++j) {
        float v = accumulate ? c[j] : 0.f;
        if (bias_n) v += bias_n[j];
        if (bias_m) v += bias_m[i];
        c[j] = v;
      }
    }
  };
  if (K <= 0) {
    init_rows(0, M, 0, N);
    return;
  }
  const bool need_init = accumulate || bias_n || bias_m;
  const int64_t kc_full = depth_block(K), kblocks = ceil_div(K, kc_full);
  const int64_t nblocks = ceil_div(N, kNcMax), nc_full = ceil_div(ceil_div(N, nblocks), nr) * nr;
  const int64_t mt = ceil_div(kMt, mr) * mr, nt = ceil_div(kNt, nr) * nr;
  const int64_t a_panels = ceil_div(M, mr);
  const MatView Bt = transposed(B);
  float* pa = scratch(kSlotGemmA, size_t(a_panels * mr * kc_full));
  float* pb = scratch(kSlotGemmB, size_t(nc_full * kc_full));

  for (int64_t n0 = 0; n0 < N; n0 += nc_full) {
    const int64_t nc = std::min(nc_full, N - n0);
    const int64_t b_panels = ceil_div(nc, nr);
    for (int64_t kb = 0; kb < kblocks; ++kb) {
      const int64_t k0 = kb * kc_full, kc = std::min(kc_full, K - k0);
      parallel_for(pool, a_panels + b_panels, 4, [&](int64_t p0, int64_t p1) {
        for (int64_t p = p0; p < p1; ++p) {
          if (p < a_panels) {
            int64_t r0 = p * mr;
            pack_panel(t, A, r0, int(std::min<int64_t>(mr, M - r0)), mr, k0, kc, pa + p * mr * kc, 1.f);
          } else {
            int64_t q = p - a_panels, c0 = n0 + q * nr;
            pack_panel(t, Bt, c0, int(std::min<int64_t>(nr, n0 + nc - c0)), nr, k0, kc, pb + q * nr * kc, 1.f);
          }
        }
      });
      const int64_t tiles_m = ceil_div(M, mt), tiles_n = ceil_div(nc, nt);
      parallel_for(pool, tiles_m * tiles_n, 1, [&](int64_t t0, int64_t t1) {
        for (int64_t tile = t0; tile < t1; ++tile) {
          const int64_t m0 = (tile / tiles_n) * mt, m1 = std::min(M, m0 + mt);
          const int64_t j0 = (tile % tiles_n) * nt, j1 = std::min(nc, j0 + nt);
          bool acc = kb > 0;
          if (kb == 0 && need_init) {
            init_rows(m0, m1, n0 + j0, n0 + j1);
            acc = true;
          }
          gemm_packed(m1 - m0, j1 - j0, kc, pa + (m0 / mr) * mr * kc, pb + (j0 / nr) * nr * kc, C + m0 * ldc + n0 + j0, ldc, acc);
        }
      });
    }
  }
}

}  // namespace

void gemm(ThreadPool* pool, int64_t M, int64_t N, int64_t K, const MatView& A, const MatView& B, float* C, int64_t ldc, const float* bias_n,
          const float* bias_m, bool accumulate) {
  gemm_impl(pool, M, N, K, A, B, C, ldc, bias_n, bias_m, accumulate);
}

PackedA packed_a_layout(int64_t M, int64_t K) {
  const int64_t mr = table().mr;
  return {M, K, mr, depth_block(K), ceil_div(M, mr)};
}

int64_t PackedA::offset(int64_t m, int64_t k) const {
  const int64_t kb = k / kc_full, kc = std::min(kc_full, K - kb * kc_full);
  return kb * panels * mr * kc_full + (m / mr) * mr * kc + (k - kb * kc_full) * mr + m % mr;
}

int gemm_mr() { return table().mr; }
int gemm_nr() { return table().nr; }

void pack_a(const MatView& A, int64_t r0, int64_t rows, int64_t k0, int64_t kc, float* dst, float scale) {
  check_dtype(A);
  const Table& t = table();
  for (int64_t p = 0; p * t.mr < rows; ++p)
    pack_panel(t, A, r0 + p * t.mr, int(std::min<int64_t>(t.mr, rows - p * t.mr)), t.mr, k0, kc, dst + p * t.mr * kc, scale);
}

void pack_b(const MatView& B, int64_t c0, int64_t cols, int64_t k0, int64_t kc, float* dst, float scale) {
  const MatView Bt = transposed(B);
  check_dtype(Bt);
  const Table& t = table();
  for (int64_t q = 0; q * t.nr < cols; ++q)
    pack_panel(t, Bt, c0 + q * t.nr, int(std::min<int64_t>(t.nr, cols - q * t.nr)), t.nr, k0, kc, dst + q * t.nr * kc, scale);
}

void gemm_packed(int64_t M, int64_t N, int64_t kc, const float* pa, const float* pb, float* C, int64_t ldc, bool acc) {
  const Table& t = table();
  for (int64_t j = 0; j < N; j += t.nr) {
    const float* bp = pb + (j / t.nr) * t.nr * kc;
    const int n_eff = int(std::min<int64_t>(t.nr, N - j));
    for (int64_t i = 0; i < M; i += t.mr) {
      const int m = int(std::min<int64_t>(t.mr, M - i));
      (m <= t.mr_short ? t.gemm_ukernel_short : t.gemm_ukernel)(kc, pa + (i / t.mr) * t.mr * kc, bp, C + i * ldc + j, ldc, m, n_eff, acc);
    }
  }
}

}  // namespace kern
}  // namespace sd
