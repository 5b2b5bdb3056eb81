// arm64 8-bit dot-product peak loop on SDOT, the instruction of the dotprod
// quant kernels. Built with +dotprod (CMakeLists.txt); run only where
// cpu_features().neon_dotprod says so.
#include "peak.h"
#if defined(__aarch64__) && defined(__ARM_FEATURE_DOTPROD)
#include <arm_neon.h>

namespace sdbench {

// 16 s8 x s8 products into 4 i32 lanes per sdot.
double int8_dot_loop_neon(int64_t iters) {
  int32x4_t acc[16];
  for (int i = 0; i < 16; ++i) acc[i] = vdupq_n_s32(i);
  const int8x16_t a = vdupq_n_s8(3), b = vdupq_n_s8(-5);
  for (int64_t it = 0; it < iters; ++it)
    for (int i = 0; i < 16; ++i) acc[i] = vdotq_s32(acc[i], a, b);
  int32x4_t s = acc[0];
  for (int i = 1; i < 16; ++i) s = vaddq_s32(s, acc[i]);
  volatile int sink = vgetq_lane_s32(s, 0);
  (void)sink;
  return double(iters) * 16 * 16 * 2;
}

}  // namespace sdbench
#else
namespace sdbench {
double int8_dot_loop_neon(int64_t) { return 0; }
}  // namespace sdbench
#endif
