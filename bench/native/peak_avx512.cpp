#include "peak.h"
#if defined(SD_X86_DISPATCH)
#include "kernels/simd_avx512.h"

namespace sdbench {

double fma_loop_avx512(int64_t iters) {
  __m512 acc[16];
  for (int i = 0; i < 16; ++i) acc[i] = _mm512_set1_ps(float(i) * 1e-3f);
  const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
  for (int64_t it = 0; it < iters; ++it)
    for (int i = 0; i < 16; ++i) acc[i] = _mm512_fmadd_ps(acc[i], a, b);
  __m512 s = acc[0];
  for (int i = 1; i < 16; ++i) s = _mm512_add_ps(s, acc[i]);
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, s);
  volatile float sink = lanes[0];
  (void)sink;
  return double(iters) * 16 * 16 * 2;
}

// vdpbf16ps: 16 lanes x 2 bf16 products + 2 adds = 64 flops per instruction.
double bf16_dot_loop_avx512(int64_t iters) {
  __m512 acc[16];
  for (int i = 0; i < 16; ++i) acc[i] = _mm512_setzero_ps();
  const __m512bh a = (__m512bh)_mm512_set1_epi16(0x3f80), b = (__m512bh)_mm512_set1_epi16(0x3380);
  for (int64_t it = 0; it < iters; ++it)
    for (int i = 0; i < 16; ++i) acc[i] = _mm512_dpbf16_ps(acc[i], a, b);
  __m512 s = acc[0];
  for (int i = 1; i < 16; ++i) s = _mm512_add_ps(s, acc[i]);
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, s);
  volatile float sink = lanes[0];
  (void)sink;
  return double(iters) * 16 * 16 * 4;
}

// vpdpbusd: 16 lanes x 4 u8 x s8 products, added into i32: 128 ops per instruction.
double int8_dot_loop_avx512(int64_t iters) {
  __m512i acc[16];
  for (int i = 0; i < 16; ++i) acc[i] = _mm512_setzero_si512();
  const __m512i a = _mm512_set1_epi8(3), b = _mm512_set1_epi8(-5);
  for (int64_t it = 0; it < iters; ++it)
    for (int i = 0; i < 16; ++i) acc[i] = _mm512_dpbusd_epi32(acc[i], a, b);
  __m512i s = acc[0];
  for (int i = 1; i < 16; ++i) s = _mm512_add_epi32(s, acc[i]);
  alignas(64) int32_t lanes[16];
  _mm512_store_si512(lanes, s);
  volatile int32_t sink = lanes[0];
  (void)sink;
  return double(iters) * 16 * 64 * 2;
}

}  // namespace sdbench
#else
namespace sdbench {
double fma_loop_avx512(int64_t) { return 0; }
double int8_dot_loop_avx512(int64_t) { return 0; }
double bf16_dot_loop_avx512(int64_t) { return 0; }
}  // namespace sdbench
#endif
