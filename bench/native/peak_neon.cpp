// arm64 fp32 FMA peak loop (NEON is baseline on AArch64; no extra flags).
#include "peak.h"
#if defined(__aarch64__)
#include <arm_neon.h>

namespace sdbench {

// 16 independent accumulators: 4-cycle FMA latency on up to 4 pipes (Apple M-series).
double fma_loop_neon(int64_t iters) {
  float32x4_t acc[16];
  for (int i = 0; i < 16; ++i) acc[i] = vdupq_n_f32(float(i) * 1e-3f);
  const float32x4_t a = vdupq_n_f32(0.999999f), b = vdupq_n_f32(1e-7f);
  for (int64_t it = 0; it < iters; ++it)
    for (int i = 0; i < 16; ++i) acc[i] = vfmaq_f32(b, acc[i], a);
  float32x4_t s = acc[0];
  for (int i = 1; i < 16; ++i) s = vaddq_f32(s, acc[i]);
  volatile float sink = vgetq_lane_f32(s, 0);
  (void)sink;
  return double(iters) * 16 * 4 * 2;
}

}  // namespace sdbench
#else
namespace sdbench {
double fma_loop_neon(int64_t) { return 0; }
}  // namespace sdbench
#endif
