// Internal: the bf16 GEMM behind precision "fast" (AVX-512 BF16, vdpbf16ps).
// Both operands are rounded to bf16 inside the packing (round to nearest
// even; bf16 subnormals flush to signed zero, as the instruction's DAZ would
// treat them) and multiplied pairwise in f32 with f32 accumulation. About 3
// significant decimal digits per operand instead of 7: results differ from
// gemm() by up to ~2^-8 of sum_k |a_k b_k| per element.
#pragma once
#include <cstdint>

#include "kernels/gemm.h"

namespace sd {
namespace kern {

// The ISA kernel. Operands are packed as bf16 pairs (k even in the low half,
// k odd in the high half; an odd K is padded with 0):
// a: A micro-panel [kp][mr] pairs, b: B micro-panel [kp][nr] pairs, both
// zero-padded to mr / nr. ukernel: c[i*ldc + j] (i < m, j < n) =
// (acc ? c : 0) + sum over pairs p in order of the lane's vdpbf16ps step
// (lane += hi_a*hi_b, then += lo_a*lo_b, each bf16 product exact in f32).
// ukernel_short serves m <= mr_short over the same mr-wide A panels.
// round_pairs: dst[p] = bf16(src[2p]) | bf16(src[2p + 1]) << 16 for
// p < pairs (a multiple of 16), src 2 * pairs f32 at any alignment, rounded
// exactly as the driver's scalar packing does (nearest even, NaN quiet,
// subnormals to signed zero).
// pack_rows: dst[j] = bf16(s * lo[j]) | bf16(s * hi[j]) << 16 for j < n (a
// multiple of 16): two rows of a depth-major operand (depth 2p and 2p + 1)
// as one row of pairs, the product s * x rounded to f32 first, then as
// round_pairs.
struct Bf16Kernel {
  const char* name;
  int mr, nr, mr_short;
  void (*ukernel)(int64_t kp, const uint32_t* a, const uint32_t* b, float* c, int64_t ldc, int m, int n, bool acc);
  void (*ukernel_short)(int64_t kp, const uint32_t* a, const uint32_t* b, float* c, int64_t ldc, int m, int n, bool acc);
  void (*round_pairs)(const void* src, int64_t pairs, uint32_t* dst);
  void (*pack_rows)(const float* lo, const float* hi, int64_t n, float s, uint32_t* dst);
};
// Defined in gemm_bf16_avx512.cpp: nullptr without AVX-512 BF16 (or x86 dispatch).
const Bf16Kernel* bf16_avx512_kernel();

// The kernel of the current CPU path (the avx512 path on a CPU with AVX-512
// BF16), else nullptr.
const Bf16Kernel* bf16_kernel();

// f32 -> bf16 bits as every packing rounds: nearest even, NaN kept quiet,
// subnormal results flushed to signed zero (vdpbf16ps reads them as zero).
uint32_t round_bf16(float f);

// Packs rows [r0, r0 + rows) x pairs [p0, p0 + kp) of `v` ((row, depth) ->
// element, depth < K; pairs beyond K are 0) into a micro-panel [kp][w] of
// pairs, rows past `rows` zero: the GEMM's own A / B packing, for callers
// that drive the micro-kernels themselves (attention).
void pack_bf16_pairs(const Bf16Kernel& kt, const MatView& v, int64_t K, int64_t r0, int rows, int w, int64_t p0, int64_t kp, uint32_t* dst);

// C [M, N] (row stride ldc) (+)= A @ B over kp pairs from packed operands:
// pa = A panels [ceil(M / mr)][kp][mr], pb = B panels [ceil(N / nr)][kp][nr]
// (gemm_packed()'s layout in pairs). One thread.
void gemm_bf16_packed(const Bf16Kernel& kt, int64_t M, int64_t N, int64_t kp, const uint32_t* pa, const uint32_t* pb, float* C, int64_t ldc,
                      bool acc);

// True when the current CPU path runs the bf16 kernel (the avx512 path on a
// CPU with AVX-512 BF16).
bool gemm_bf16_available();

// C[M, N] (row stride ldc) = bf16(A)[M, K] @ bf16(B)[K, N] + bias_n[n]
// (optional). A, B: f32/f16/bf16 views. Each C element is reduced in a fixed
// order, independent of the thread count. Needs gemm_bf16_available().
void gemm_bf16(ThreadPool* pool, int64_t M, int64_t N, int64_t K, const MatView& A, const MatView& B, float* C, int64_t ldc,
               const float* bias_n = nullptr);

// Portable reference with the same operand rounding and products: per
// element, acc = 0; for each pair p: acc += hi_a*hi_b; acc += lo_a*lo_b (f32);
// then C = acc + bias_n. One thread. Differs from gemm_bf16() only by f32
// summation rounding (the kernel adds depth blocks separately).
void gemm_bf16_reference(int64_t M, int64_t N, int64_t K, const MatView& A, const MatView& B, float* C, int64_t ldc,
                         const float* bias_n = nullptr);

}  // namespace kern
}  // namespace sd
