// AVX2 + FMA + F16C kernels (this file alone is built with those flags; it
// is empty on builds without x86 dispatch).
#include "kernels/kernel_table.h"

#if defined(SD_X86_DISPATCH) && (defined(__GNUC__) || defined(__clang__))  // GCC/Clang (clang-cl too) vector extensions
#include <immintrin.h>

#include <algorithm>
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

// 4x16 over 6-wide A panels: row tails of up to 4 (e.g. 16 = 6 + 6 + 4).
void gemm_ukernel_short(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, int m, int n, bool acc) {
  gemm_ukernel_t<Avx2Ops, 4, kNr / 8, kMr>(kc, a, b, c, ldc, m, n, acc);
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
    default: fail_unhandled_dtype(t);
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

void quick_gelu(float* x, int64_t n) {
  map8(x, n, [](__m256 v) {
    const __m256 e = avx2::exp(_mm256_mul_ps(_mm256_set1_ps(-1.702f), v));
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

// 2^x for x <= 0 (a score in base 2 minus its column max), N vectors at
// once with every step interleaved across them (one evaluation is a long
// dependency chain; Zen 1's FP scheduler holds too few ops to overlap loop
// iterations by itself). x = n + r, |r| <= 1/2 (exact), 2^r by the degree-6
// Taylor polynomial of e^(r ln2) (relative error < 2e-7), times 2^n. Below
// -126 this gives ~1e-38 instead of 0: nothing next to the column's
// maximum term 1.
template <int N>
inline void exp2_nonpositive(__m256* x) {
  __m256 n[N], r[N], p[N];
#pragma GCC unroll 4
  for (int k = 0; k < N; ++k) {
    x[k] = _mm256_max_ps(x[k], _mm256_set1_ps(-126.f));
    n[k] = _mm256_round_ps(x[k], _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    r[k] = _mm256_sub_ps(x[k], n[k]);
  }
  constexpr float l1 = 0.693147180559945309f, l2 = l1 * l1 / 2, l3 = l2 * l1 / 3, l4 = l3 * l1 / 4, l5 = l4 * l1 / 5, l6 = l5 * l1 / 6;
  const float c[5] = {l4, l3, l2, l1, 1.f};
#pragma GCC unroll 4
  for (int k = 0; k < N; ++k) p[k] = _mm256_fmadd_ps(_mm256_set1_ps(l6), r[k], _mm256_set1_ps(l5));
#pragma GCC unroll 5
  for (int i = 0; i < 5; ++i)
#pragma GCC unroll 4
    for (int k = 0; k < N; ++k) p[k] = _mm256_fmadd_ps(p[k], r[k], _mm256_set1_ps(c[i]));
#pragma GCC unroll 4
  for (int k = 0; k < N; ++k) {
    const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n[k]), _mm256_set1_epi32(127)), 23);
    x[k] = _mm256_mul_ps(p[k], _mm256_castsi256_ps(e));
  }
}

void softmax2_cols(float* p, int64_t rows, int64_t w, float* m, float* l, float* alpha) {
  for (int64_t i = 0; i < w; i += 8) {
    // Four independent max chains (max is exact in any order).
    const __m256 m_old = _mm256_loadu_ps(m + i);
    __m256 mm[4] = {m_old, m_old, m_old, m_old};
    int64_t j = 0;
    for (; j + 4 <= rows; j += 4)
      for (int k = 0; k < 4; ++k) mm[k] = _mm256_max_ps(mm[k], _mm256_loadu_ps(p + (j + k) * w + i));
    for (; j < rows; ++j) mm[0] = _mm256_max_ps(mm[0], _mm256_loadu_ps(p + j * w + i));
    __m256 mn = _mm256_max_ps(_mm256_max_ps(mm[0], mm[1]), _mm256_max_ps(mm[2], mm[3]));
    mn = _mm256_and_ps(mn, _mm256_cmp_ps(mn, _mm256_set1_ps(-INFINITY), _CMP_GT_OQ));  // -inf -> 0
    __m256 a[1] = {_mm256_sub_ps(m_old, mn)};                                          // -inf - finite = -inf: clamped, then times l = 0
    exp2_nonpositive<1>(a);
    _mm256_storeu_ps(alpha + i, a[0]);
    __m256 s = _mm256_mul_ps(_mm256_loadu_ps(l + i), a[0]);
    for (j = 0; j + 4 <= rows; j += 4) {
      __m256 x[4];
      for (int k = 0; k < 4; ++k) x[k] = _mm256_sub_ps(_mm256_loadu_ps(p + (j + k) * w + i), mn);
      exp2_nonpositive<4>(x);
      for (int k = 0; k < 4; ++k) {  // summed in row order
        _mm256_storeu_ps(p + (j + k) * w + i, x[k]);
        s = _mm256_add_ps(s, x[k]);
      }
    }
    for (; j < rows; ++j) {
      __m256 x[1] = {_mm256_sub_ps(_mm256_loadu_ps(p + j * w + i), mn)};
      exp2_nonpositive<1>(x);
      _mm256_storeu_ps(p + j * w + i, x[0]);
      s = _mm256_add_ps(s, x[0]);
    }
    _mm256_storeu_ps(l + i, s);
    _mm256_storeu_ps(m + i, mn);
  }
}

// 8 columns of rows [0, n) (n <= 8), f16/bf16 -> f32: an 8x8 16-bit
// transpose on 128-bit registers (missing rows zero), then one widening per
// column. col[c] holds rows 0..7 of column c.
inline void transpose8x8_u16(const uint16_t* s, int64_t ld, int n, bool bf16, __m256* col) {
  __m128i a[8], t[8], q[8];
  for (int i = 0; i < 8; ++i) a[i] = i < n ? _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i * ld)) : _mm_setzero_si128();
  for (int i = 0; i < 4; ++i) {
    t[2 * i] = _mm_unpacklo_epi16(a[2 * i], a[2 * i + 1]);  // rows 2i, 2i+1 of columns 0..3
    t[2 * i + 1] = _mm_unpackhi_epi16(a[2 * i], a[2 * i + 1]);
  }
  for (int h = 0; h < 2; ++h)
    for (int lo = 0; lo < 2; ++lo) {
      // rows 4h..4h+3 of columns 4 lo + {0, 1} and 4 lo + {2, 3}
      q[4 * h + 2 * lo] = _mm_unpacklo_epi32(t[4 * h + lo], t[4 * h + 2 + lo]);
      q[4 * h + 2 * lo + 1] = _mm_unpackhi_epi32(t[4 * h + lo], t[4 * h + 2 + lo]);
    }
  for (int p = 0; p < 4; ++p) {
    const __m128i c0 = _mm_unpacklo_epi64(q[p], q[4 + p]), c1 = _mm_unpackhi_epi64(q[p], q[4 + p]);
    if (bf16) {
      col[2 * p] = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(c0), 16));
      col[2 * p + 1] = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(c1), 16));
    } else {
      col[2 * p] = _mm256_cvtph_ps(c0);
      col[2 * p + 1] = _mm256_cvtph_ps(c1);
    }
  }
}

// The same for f32: rows i and i + 4 share a register, then 4x4 in-lane
// transposes.
inline void transpose8x8_f32(const float* s, int64_t ld, int n, __m256* col) {
  const __m128 zero = _mm_setzero_ps();
  for (int h = 0; h < 2; ++h) {
    __m256 v[4], t[4];
    for (int i = 0; i < 4; ++i)
      v[i] = _mm256_insertf128_ps(_mm256_castps128_ps256(i < n ? _mm_loadu_ps(s + i * ld + 4 * h) : zero),
                                  i + 4 < n ? _mm_loadu_ps(s + (i + 4) * ld + 4 * h) : zero, 1);
    t[0] = _mm256_unpacklo_ps(v[0], v[1]);
    t[1] = _mm256_unpackhi_ps(v[0], v[1]);
    t[2] = _mm256_unpacklo_ps(v[2], v[3]);
    t[3] = _mm256_unpackhi_ps(v[2], v[3]);
    col[4 * h] = _mm256_shuffle_ps(t[0], t[2], 0x44);
    col[4 * h + 1] = _mm256_shuffle_ps(t[0], t[2], 0xEE);
    col[4 * h + 2] = _mm256_shuffle_ps(t[1], t[3], 0x44);
    col[4 * h + 3] = _mm256_shuffle_ps(t[1], t[3], 0xEE);
  }
}

// d[0, n) = the first n lanes of v (n <= 8), writing nothing past them.
inline void store_first(float* d, __m256 v, int n) {
  if (n == 8) {
    _mm256_storeu_ps(d, v);
    return;
  }
  __m128 x = _mm256_castps256_ps128(v);
  if (n >= 4) {
    _mm_storeu_ps(d, x);
    d += 4;
    n -= 4;
    x = _mm256_extractf128_ps(v, 1);
  }
  if (n >= 2) {
    _mm_storel_pi(reinterpret_cast<__m64*>(d), x);
    d += 2;
    n -= 2;
    x = _mm_movehl_ps(x, x);
  }
  if (n) _mm_store_ss(d, x);
}

// 8x8 blocks, a last block of fewer rows included (GEMM panels are mr = 6
// rows wide); columns past the last multiple of 8 through the scalar kernel.
void transpose_f32(DType t, const void* src, int64_t ld, int64_t rows, int64_t cols, float* dst, int64_t ldd) {
  if (t != DType::F32 && t != DType::F16 && t != DType::BF16) fail_unhandled_dtype(t);
  const int64_t c8 = cols / 8 * 8, es = t == DType::F32 ? 4 : 2;
  const char* s = static_cast<const char*>(src);
  for (int64_t r = 0; r < rows; r += 8) {
    const int n = int(std::min<int64_t>(8, rows - r));
    for (int64_t c = 0; c < c8; c += 8) {
      __m256 col[8];
      const char* b = s + (r * ld + c) * es;
      if (t == DType::F32)
        transpose8x8_f32(reinterpret_cast<const float*>(b), ld, n, col);
      else
        transpose8x8_u16(reinterpret_cast<const uint16_t*>(b), ld, n, t == DType::BF16, col);
      for (int j = 0; j < 8; ++j) store_first(dst + (c + j) * ldd + r, col[j], n);
    }
  }
  scalar_table().transpose_f32(t, s + c8 * es, ld, rows, cols - c8, dst + c8 * ldd, ldd);
}

}  // namespace

const Table* avx2_table() {
  static const Table t{"avx2",
                       kMr,
                       kNr,
                       gemm_ukernel,
                       4,
                       gemm_ukernel_short,
                       convert_to_f32,
                       exp_shift_sum,
                       max_of,
                       silu,
                       gelu,
                       quick_gelu,
                       softmax2_cols,
                       wino::weights<wino::F4x4, v8f, 8>,
                       wino::input<wino::F4x4, v8f, 8>,
                       wino::output<wino::F4x4, v8f, 8>,
                       transpose_f32,
                       wino::weights<wino::F2x2, v8f, 8>,
                       wino::input<wino::F2x2, v8f, 8>,
                       wino::output<wino::F2x2, v8f, 8>};
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
