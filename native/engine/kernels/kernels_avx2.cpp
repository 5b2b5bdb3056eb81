// AVX2 + FMA + F16C kernels (this file alone is built with those flags; it
// is empty on builds without x86 dispatch).
#include "kernels/kernel_table.h"

#if defined(SD_X86_DISPATCH)
#include <immintrin.h>

#include <cmath>
#include <cstring>

#include "core/error.h"
#include "kernels/simd_avx2.h"
#include "kernels/winograd_impl.h"

namespace sd {
namespace kern {
namespace {

constexpr int kMr = 6, kNr = 16;
typedef float v8f __attribute__((vector_size(32)));

// 6x16 register tile: 12 ymm accumulators, 2 B loads + 6 broadcasts per k.
void gemm_ukernel(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, int m, int n, bool acc) {
  __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps(), c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
  __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps(), c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
  __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps(), c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
  for (int64_t k = 0; k < kc; ++k) {
    const __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8);
    __m256 ai = _mm256_broadcast_ss(a + 0);
    c00 = _mm256_fmadd_ps(ai, b0, c00);
    c01 = _mm256_fmadd_ps(ai, b1, c01);
    ai = _mm256_broadcast_ss(a + 1);
    c10 = _mm256_fmadd_ps(ai, b0, c10);
    c11 = _mm256_fmadd_ps(ai, b1, c11);
    ai = _mm256_broadcast_ss(a + 2);
    c20 = _mm256_fmadd_ps(ai, b0, c20);
    c21 = _mm256_fmadd_ps(ai, b1, c21);
    ai = _mm256_broadcast_ss(a + 3);
    c30 = _mm256_fmadd_ps(ai, b0, c30);
    c31 = _mm256_fmadd_ps(ai, b1, c31);
    ai = _mm256_broadcast_ss(a + 4);
    c40 = _mm256_fmadd_ps(ai, b0, c40);
    c41 = _mm256_fmadd_ps(ai, b1, c41);
    ai = _mm256_broadcast_ss(a + 5);
    c50 = _mm256_fmadd_ps(ai, b0, c50);
    c51 = _mm256_fmadd_ps(ai, b1, c51);
    a += kMr;
    b += kNr;
  }
  const __m256 r[kMr][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
  if (m == kMr && n == kNr) {
    for (int i = 0; i < kMr; ++i) {
      float* ci = c + i * ldc;
      if (acc) {
        _mm256_storeu_ps(ci, _mm256_add_ps(_mm256_loadu_ps(ci), r[i][0]));
        _mm256_storeu_ps(ci + 8, _mm256_add_ps(_mm256_loadu_ps(ci + 8), r[i][1]));
      } else {
        _mm256_storeu_ps(ci, r[i][0]);
        _mm256_storeu_ps(ci + 8, r[i][1]);
      }
    }
    return;
  }
  alignas(32) float t[kMr][kNr];
  for (int i = 0; i < kMr; ++i) {
    _mm256_store_ps(t[i], r[i][0]);
    _mm256_store_ps(t[i] + 8, r[i][1]);
  }
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) c[i * ldc + j] = acc ? c[i * ldc + j] + t[i][j] : t[i][j];
}

void convert_to_f32(DType t, const void* src, int64_t n, float* dst) {
  int64_t i = 0;
  switch (t) {
    case DType::F32: std::memcpy(dst, src, size_t(n) * 4); return;
    case DType::F16: {
      const uint16_t* s = static_cast<const uint16_t*>(src);
      for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i))));
      for (; i < n; ++i) dst[i] = _cvtsh_ss(s[i]);
      return;
    }
    case DType::BF16: {
      const uint16_t* s = static_cast<const uint16_t*>(src);
      for (; i + 8 <= n; i += 8) {
        __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i)));
        _mm256_storeu_ps(dst + i, _mm256_castsi256_ps(_mm256_slli_epi32(w, 16)));
      }
      for (; i < n; ++i) dst[i] = bf16_to_f32(s[i]);
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

void axpby(float* y, const float* x, int64_t n, float a, float b) {
  const __m256 va = _mm256_set1_ps(a), vb = _mm256_set1_ps(b);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(y + i, _mm256_fmadd_ps(_mm256_loadu_ps(y + i), va, _mm256_mul_ps(_mm256_loadu_ps(x + i), vb)));
  for (; i < n; ++i) y[i] = y[i] * a + x[i] * b;
}

}  // namespace

const Table* avx2_table() {
  static const Table t{"avx2",         kMr,    kNr, gemm_ukernel, convert_to_f32, exp_shift_sum, max_of, axpby,
                       wino::weights<v8f, 8>, wino::input<v8f, 8>, wino::output<v8f, 8>};
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
