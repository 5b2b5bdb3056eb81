// AVX-512 kernels (this file alone is built with AVX-512 F/BW/VL/DQ flags).
// The GEMM micro-kernel and Winograd transforms are the shared templates at
// 16 lanes; conversions, exp and the other vector helpers are the AVX2 ones.
#include "kernels/kernel_table.h"

#if defined(SD_X86_DISPATCH) && (defined(__GNUC__) || defined(__clang__))  // GCC/Clang (clang-cl too) vector extensions
#include "kernels/gemm_ukernel_impl.h"
#include "kernels/simd_avx512.h"
#include "kernels/winograd_impl.h"

namespace sd {
namespace kern {
namespace {

constexpr int kMr = 14, kNr = 32;
typedef float v16f __attribute__((vector_size(64)));

struct Avx512Ops {
  using V = __m512;
  static constexpr int W = 16;
  static V zero() { return _mm512_setzero_ps(); }
  static V load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, V v) { _mm512_storeu_ps(p, v); }
  static V broadcast(const float* p) { return _mm512_set1_ps(*p); }
  static V fma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static V add(V a, V b) { return _mm512_add_ps(a, b); }
};

// 14x32 register tile: 28 zmm accumulators, 2 B loads + 14 broadcasts per k.
void gemm_ukernel(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, int m, int n, bool acc) {
  gemm_ukernel_t<Avx512Ops, kMr, kNr / 16>(kc, a, b, c, ldc, m, n, acc);
}

// 7x32 over 14-wide A panels: row tails of up to 7.
void gemm_ukernel_short(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, int m, int n, bool acc) {
  gemm_ukernel_t<Avx512Ops, 7, kNr / 16, kMr>(kc, a, b, c, ldc, m, n, acc);
}

}  // namespace

const Table* avx512_table() {
  static const Table t = [] {
    Table x = *avx2_table();
    x.name = "avx512";
    x.mr = kMr;
    x.nr = kNr;
    x.gemm_ukernel = gemm_ukernel;
    x.mr_short = 7;
    x.gemm_ukernel_short = gemm_ukernel_short;
    x.wino_weights = wino::weights<wino::F4x4, v16f, 16>;
    x.wino_input = wino::input<wino::F4x4, v16f, 16>;
    x.wino_output = wino::output<wino::F4x4, v16f, 16>;
    x.wino2_weights = wino::weights<wino::F2x2, v16f, 16>;
    x.wino2_input = wino::input<wino::F2x2, v16f, 16>;
    x.wino2_output = wino::output<wino::F2x2, v16f, 16>;
    return x;
  }();
  return &t;
}

}  // namespace kern
}  // namespace sd

#else
namespace sd {
namespace kern {
const Table* avx512_table() { return nullptr; }
}  // namespace kern
}  // namespace sd
#endif
