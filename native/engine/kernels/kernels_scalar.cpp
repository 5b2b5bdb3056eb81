// Portable reference kernels (the scalar path). Plain loops the compiler may
// auto-vectorise with baseline SSE2; no intrinsics here.
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "kernels/kernel_table.h"
#include "kernels/winograd_impl.h"

namespace sd {
namespace kern {
namespace {

constexpr int kMr = 4, kNr = 8;

void gemm_ukernel(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, int m, int n, bool acc) {
  float t[kMr][kNr] = {};
  for (int64_t k = 0; k < kc; ++k) {
    const float* ak = a + k * kMr;
    const float* bk = b + k * kNr;
    for (int i = 0; i < kMr; ++i)
      for (int j = 0; j < kNr; ++j) t[i][j] += ak[i] * bk[j];
  }
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) c[i * ldc + j] = acc ? c[i * ldc + j] + t[i][j] : t[i][j];
}

void convert_to_f32(DType t, const void* src, int64_t n, float* dst) {
  switch (t) {
    case DType::F32: std::memcpy(dst, src, size_t(n) * 4); return;
    case DType::F16: {
      const uint16_t* s = static_cast<const uint16_t*>(src);
      for (int64_t i = 0; i < n; ++i) dst[i] = f16_to_f32(load_u16(s, i));
      return;
    }
    case DType::BF16: {
      const uint16_t* s = static_cast<const uint16_t*>(src);
      for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(load_u16(s, i));
      return;
    }
    default: fail_unhandled_dtype(t);
  }
}

float exp_shift_sum(float* x, int64_t n, float max) {
  float s = 0.f;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - max);
    s += x[i];
  }
  return s;
}

float max_of(const float* x, int64_t n) {
  float m = -INFINITY;
  for (int64_t i = 0; i < n; ++i) m = x[i] > m ? x[i] : m;
  return m;
}

void silu(float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] = x[i] / (1.f + std::exp(-x[i]));
}

void gelu(float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] = 0.5f * x[i] * (1.f + std::erf(x[i] * 0.70710678118654752f));
}

void quick_gelu(float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] = x[i] / (1.f + std::exp(-1.702f * x[i]));
}

void softmax2_cols(float* p, int64_t rows, int64_t w, float* m, float* l, float* alpha) {
  for (int64_t i = 0; i < w; ++i) {
    float mn = m[i];
    for (int64_t j = 0; j < rows; ++j) mn = p[j * w + i] > mn ? p[j * w + i] : mn;
    if (!(mn > -INFINITY)) mn = 0.f;
    alpha[i] = std::exp2(m[i] - mn);
    float s = l[i] * alpha[i];
    for (int64_t j = 0; j < rows; ++j) {
      p[j * w + i] = std::exp2(p[j * w + i] - mn);
      s += p[j * w + i];
    }
    l[i] = s;
    m[i] = mn;
  }
}

void transpose_f32(DType t, const void* src, int64_t ld, int64_t rows, int64_t cols, float* dst, int64_t ldd) {
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t o = r * ld;
    switch (t) {
      case DType::F32: {
        const unsigned char* s = static_cast<const unsigned char*>(src) + 4 * o;
        for (int64_t c = 0; c < cols; ++c) std::memcpy(dst + c * ldd + r, s + 4 * c, 4);  // may be unaligned
        break;
      }
      case DType::F16:
        for (int64_t c = 0; c < cols; ++c) dst[c * ldd + r] = f16_to_f32(load_u16(src, o + c));
        break;
      case DType::BF16:
        for (int64_t c = 0; c < cols; ++c) dst[c * ldd + r] = bf16_to_f32(load_u16(src, o + c));
        break;
      default: fail_unhandled_dtype(t);
    }
  }
}

}  // namespace

const Table& scalar_table() {
  static const Table t{"scalar",
                       kMr,
                       kNr,
                       gemm_ukernel,
                       kMr,
                       gemm_ukernel,
                       convert_to_f32,
                       exp_shift_sum,
                       max_of,
                       silu,
                       gelu,
                       quick_gelu,
                       softmax2_cols,
                       wino::weights<wino::F4x4, float, 1>,
                       wino::input<wino::F4x4, float, 1>,
                       wino::output<wino::F4x4, float, 1>,
                       transpose_f32,
                       wino::weights<wino::F2x2, float, 1>,
                       wino::input<wino::F2x2, float, 1>,
                       wino::output<wino::F2x2, float, 1>};
  return t;
}

}  // namespace kern
}  // namespace sd
