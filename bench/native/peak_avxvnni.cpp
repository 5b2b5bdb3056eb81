// AVX-VNNI peak loop: the VEX vpdpbusd (256-bit) of quant_avxvnni.cpp, for
// CPUs with AVX-VNNI but no AVX-512 VNNI. Built with -mavxvnni where the
// compiler knows it (bench/native/CMakeLists.txt).
#include "peak.h"
#if defined(SD_X86_DISPATCH) && defined(__AVXVNNI__)
#include <immintrin.h>

namespace sdbench {

double int8_dot_loop_avxvnni(int64_t iters) {
  __m256i acc[12];
  for (int i = 0; i < 12; ++i) acc[i] = _mm256_setzero_si256();
  const __m256i a = _mm256_set1_epi8(3), b = _mm256_set1_epi8(-5);
  for (int64_t it = 0; it < iters; ++it)
    for (int i = 0; i < 12; ++i) acc[i] = _mm256_dpbusd_avx_epi32(acc[i], a, b);
  __m256i s = acc[0];
  for (int i = 1; i < 12; ++i) s = _mm256_add_epi32(s, acc[i]);
  volatile int sink = _mm256_extract_epi32(s, 0);
  (void)sink;
  return double(iters) * 12 * 32 * 2;
}

}  // namespace sdbench
#else
namespace sdbench {
double int8_dot_loop_avxvnni(int64_t) { return 0; }
}  // namespace sdbench
#endif
