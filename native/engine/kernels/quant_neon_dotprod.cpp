// arm64 integer GEMM kernels with the ARMv8.2 dot-product extension
// (quant_table.h contracts): SDOT adds the four s8 x s8 products of each
// 4-byte group straight into its i32 lane, so the panel kernels are exact
// at any depth (q8_0 takes the integer GEMM, as with VNNI). CMake builds this file
// with +dotprod on arm64 and the table is used only where cpu_features()
// reports the extension; activation quantization and dequantization are
// quant_neon.cpp's. Without the flag (other targets) the table is nullptr.
#include "kernels/quant_table.h"
#include "tensor/cpu_features.h"

#if defined(__aarch64__) && defined(__GNUC__) && defined(__ARM_FEATURE_DOTPROD)
#include <arm_neon.h>

#include "kernels/quant_neon_impl.h"

namespace sd {
namespace kern {
namespace {

struct DotSdot {
  // b's 4-byte group L against every group of a.
  template <int L>
  static int32x4_t dot_lane(int32x4_t acc, int8x16_t a, int8x16_t b) {
    return vdotq_laneq_s32(acc, a, b, L);
  }
};

}  // namespace

const QuantTable* quant_neon_dotprod_table() {
  if (!cpu_features().neon_dotprod) return nullptr;
  const QuantTable* base = quant_neon_table();
  static const QuantTable t{"neon-dotprod", base->quantize_act, panel_4x8_any<DotSdot>, true, base->dequantize, true, base->pack_panel};
  return &t;
}

}  // namespace kern
}  // namespace sd

#else
namespace sd {
namespace kern {
const QuantTable* quant_neon_dotprod_table() { return nullptr; }
}  // namespace kern
}  // namespace sd
#endif
