// AVX2 + FMA + F16C kernels (this file alone is built with those flags; it
// is empty on builds without x86 dispatch).
#include "kernels/kernel_table.h"

#if defined(SD_X86_DISPATCH) && defined(__GNUC__)  // GCC/Clang vector extensions
#include <immintrin.h>

#include <cmath>
#include <cstring>

#include "core/error.h"
#include "kernels/gemm_ukernel_impl.h"
#include "kernels/simd_avx2.h"
#include "kernels/winograd_impl.h"

namespace sd {
namespace kern {
namespace {

constexpr int kMr = 6, kNr = 16;
typedef float v8f __attribute__((vector_size(32)));

struct Avx2Ops {
  using V = __m256;
  static constexpr int W = 8;
  static V zero() { return _mm256_setzero_ps(); }
  static V load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, V v) { _mm256_storeu_ps(p, v); }
  static V broadcast(const float* p) { return _mm256_broadcast_ss(p); }
  static V fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static V add(V a, V b) { return _mm256_add_ps(a, b); }
};

// 6x16 register tile: 12 ymm accumulators, 2 B loads + 6 broadcasts per k.
void gemm_ukernel(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, int m, int n, bool acc) {
  gemm_ukernel_t<Avx2Ops, kMr, kNr / 8>(kc, a, b, c, ldc, m, n, acc);
}

void convert_to_f32(DType t, const void* src, int64_t n, float* dst) {
  int64_t i = 0;
  switch (t) {
    case DType::F32: std::memcpy(dst, src, size_t(n) * 4); return;
    case DType::F16: {
      const uint16_t* s = static_cast<const uint16_t*>(src);
      for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i))));
      for (; i < n; ++i) dst[i] = _cvtsh_ss(load_u16(s, i));
      return;
    }
    case DType::BF16: {
      const uint16_t* s = static_cast<const uint16_t*>(src);
      for (; i + 8 <= n; i += 8) {
        __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i)));
        _mm256_storeu_ps(dst + i, _mm256_castsi256_ps(_mm256_slli_epi32(w, 16)));
      }
      for (; i < n; ++i) dst[i] = bf16_to_f32(load_u16(s, i));
      return;
    }
    default: fail(ErrorCode::ModelUnsupported, std::string("kernels do not handle dtype ") + dtype_name(t) + " here");
  }
}

float exp_shift_sum(float* x, int64_t n, float max) {
  const __m256 vm = _mm256_set1_ps(max);
  __m256 s = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 e = avx2::exp(_mm256_sub_ps(_mm256_loadu_ps(x + i), vm));
    _mm256_storeu_ps(x + i, e);
    s = _mm256_add_ps(s, e);
  }
  if (i < n) {
    const __m256i mask = avx2::tail_mask(int(n - i));
    __m256 e = avx2::exp(_mm256_sub_ps(_mm256_maskload_ps(x + i, mask), vm));
    e = _mm256_and_ps(e, _mm256_castsi256_ps(mask));
    _mm256_maskstore_ps(x + i, mask, e);
    s = _mm256_add_ps(s, e);
  }
  return avx2::hsum(s);
}

float max_of(const float* x, int64_t n) {
  __m256 m = _mm256_set1_ps(-INFINITY);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) m = _mm256_max_ps(m, _mm256_loadu_ps(x + i));
  float r = avx2::hmax(m);
  for (; i < n; ++i) r = x[i] > r ? x[i] : r;
  return r;
}

// Applies f to 8 lanes at a time; the tail goes through a masked load/store.
template <typename F>
void map8(float* x, int64_t n, F f) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, f(_mm256_loadu_ps(x + i)));
  if (i < n) {
    const __m256i mask = avx2::tail_mask(int(n - i));
    _mm256_maskstore_ps(x + i, mask, f(_mm256_maskload_ps(x + i, mask)));
  }
}

void silu(float* x, int64_t n) {
  map8(x, n, [](__m256 v) {
    const __m256 e = avx2::exp(_mm256_sub_ps(_mm256_setzero_ps(), v));
    return _mm256_div_ps(v, _mm256_add_ps(_mm256_set1_ps(1.f), e));
  });
}

void gelu(float* x, int64_t n) {
  map8(x, n, [](__m256 v) {
    const __m256 half = _mm256_set1_ps(0.5f);
    return _mm256_mul_ps(_mm256_mul_ps(half, v),
                         _mm256_add_ps(_mm256_set1_ps(1.f), avx2::erf(_mm256_mul_ps(v, _mm256_set1_ps(0.70710678118654752f)))));
  });
}

void exp_cols(float* p, int64_t rows, int64_t w, const float* m, float* colsum) {
  for (int64_t i = 0; i < w; i += 8) {
    const __m256 vm = _mm256_loadu_ps(m + i);
    __m256 s = _mm256_loadu_ps(colsum + i);
    for (int64_t j = 0; j < rows; ++j) {
      float* q = p + j * w + i;
      const __m256 e = avx2::exp(_mm256_sub_ps(_mm256_loadu_ps(q), vm));
      _mm256_storeu_ps(q, e);
      s = _mm256_add_ps(s, e);
    }
    _mm256_storeu_ps(colsum + i, s);
  }
}

}  // namespace

const Table* avx2_table() {
  static const Table t{"avx2", kMr,  kNr,      gemm_ukernel,          convert_to_f32,      exp_shift_sum,       max_of,
                       silu,   gelu, exp_cols, wino::weights<v8f, 8>, wino::input<v8f, 8>, wino::output<v8f, 8>};
  return &t;
}

}  // namespace kern
}  // namespace sd

#else
namespace sd {
namespace kern {
const Table* avx2_table() { return nullptr; }
}  // namespace kern
}  // namespace sd
#endif
