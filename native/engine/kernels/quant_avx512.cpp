// AVX-512 VNNI integer GEMM kernels: quant_vnni_impl.h on the EVEX vpdpbusd
// (256-bit, AVX512VL). Used only when the CPU has AVX-512 VNNI; otherwise
// the AVX-512 path takes AVX-VNNI's table (quant_avxvnni.cpp) or AVX2's. The
// development machine has no VNNI: its bit-identity test runs under
// SD_NATIVE_CPU=avx512 in the SIMDe-emulated build (scripts/emulated-isa-tests.mjs).
#include "kernels/quant_table.h"
#include "tensor/cpu_features.h"

#if defined(SD_X86_DISPATCH)
#include "kernels/simd_avx512.h"
// (the intrinsics first)
#include "kernels/quant_vnni_impl.h"

namespace sd {
namespace kern {
namespace {

struct DpEvex {
  static __m256i dpbusd(__m256i acc, __m256i u, __m256i s) { return _mm256_dpbusd_epi32(acc, u, s); }
};

}  // namespace

const QuantTable* quant_avx512_table() {
  if (!cpu_features().avx512vnni) return nullptr;
  static const QuantTable t = vnni_table<DpEvex>("avx512-vnni");
  return &t;
}

}  // namespace kern
}  // namespace sd

#else
namespace sd {
namespace kern {
const QuantTable* quant_avx512_table() { return nullptr; }
}  // namespace kern
}  // namespace sd
#endif
