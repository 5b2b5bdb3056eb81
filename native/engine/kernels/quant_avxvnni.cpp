// AVX-VNNI integer GEMM kernels: quant_vnni_impl.h on the VEX vpdpbusd
// (Intel Alder Lake and later, AMD Zen 5), for CPUs that have it without
// AVX-512 VNNI, so q8_0 takes the exact integer panel path there and the
// 4/5-bit formats skip the i16 step. CMake builds this file with
// -mavxvnni where the compiler knows it (GCC >= 11, clang >= 12); elsewhere
// the table is nullptr. The development machine has no AVX-VNNI: the
// SIMDe-emulated build maps the VEX form to SIMDe's AVX-512 VNNI 256-bit one
// (same semantics) and runs the quant tests under SD_NATIVE_CPU=avx2.
#include "kernels/quant_table.h"
#include "tensor/cpu_features.h"

#if defined(SD_X86_DISPATCH) && (defined(__AVXVNNI__) || defined(SD_EMULATE_AVX512))
#include "kernels/simd_avx512.h"
// (the intrinsics first)
#include "kernels/quant_vnni_impl.h"

namespace sd {
namespace kern {
namespace {

struct DpVex {
#if defined(SD_EMULATE_AVX512)
  static __m256i dpbusd(__m256i acc, __m256i u, __m256i s) { return _mm256_dpbusd_epi32(acc, u, s); }
#else
  static __m256i dpbusd(__m256i acc, __m256i u, __m256i s) { return _mm256_dpbusd_avx_epi32(acc, u, s); }
#endif
};

}  // namespace

const QuantTable* quant_avxvnni_table() {
  if (!cpu_features().avxvnni) return nullptr;
  static const QuantTable t = vnni_table<DpVex>("avx2-vnni");
  return &t;
}

}  // namespace kern
}  // namespace sd

#else
namespace sd {
namespace kern {
const QuantTable* quant_avxvnni_table() { return nullptr; }
}  // namespace kern
}  // namespace sd
#endif
