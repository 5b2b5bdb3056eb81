#include "peak.h"
#if defined(SD_X86_DISPATCH)
#include <immintrin.h>

namespace sdbench {

// 12 independent accumulators hide the FMA latency (4-5 cycles x 2 pipes).
double fma_loop_avx2(int64_t iters) {
  __m256 acc[12];
  for (int i = 0; i < 12; ++i) acc[i] = _mm256_set1_ps(float(i) * 1e-3f);
  const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
  for (int64_t it = 0; it < iters; ++it)
    for (int i = 0; i < 12; ++i) acc[i] = _mm256_fmadd_ps(acc[i], a, b);
  __m256 s = acc[0];
  for (int i = 1; i < 12; ++i) s = _mm256_add_ps(s, acc[i]);
  volatile float sink = _mm256_cvtss_f32(s);
  (void)sink;
  return double(iters) * 12 * 8 * 2;
}

// The quantized panel kernel's inner step on registers only: 32 u8 x s8
// products per vpmaddubsw, summed into i16 lanes by vpaddw (wrapping and
// saturation are harmless here). The accumulator is also the unsigned
// operand: with constant operands the compiler hoists the vpmaddubsw out
// of the loop and only the adds are timed (the session-4 figure, 3.0x the
// FMA rate, was that).
double int8_dot_loop_avx2(int64_t iters) {
  __m256i acc[12];
  for (int i = 0; i < 12; ++i) acc[i] = _mm256_set1_epi16(short(i));
  const __m256i b = _mm256_set1_epi8(-5);
  for (int64_t it = 0; it < iters; ++it)
    for (int i = 0; i < 12; ++i) acc[i] = _mm256_add_epi16(acc[i], _mm256_maddubs_epi16(acc[i], b));
  __m256i s = acc[0];
  for (int i = 1; i < 12; ++i) s = _mm256_add_epi16(s, acc[i]);
  volatile int sink = _mm256_extract_epi32(s, 0);
  (void)sink;
  return double(iters) * 12 * 32 * 2;
}

}  // namespace sdbench
#else
namespace sdbench {
double fma_loop_avx2(int64_t) { return 0; }
double int8_dot_loop_avx2(int64_t) { return 0; }
}  // namespace sdbench
#endif
