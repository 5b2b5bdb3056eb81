// AVX2 integer GEMM kernels (quant_table.h contracts): maddubs (u8 x s8 ->
// pairs of i16), madd with ones (-> i32 lanes). Group path: unsigned weight
// codes <= 31 allow four maddubs results to be summed in i16 before
// widening (4 * 2*31*127 < 2^15). Panel path: a broadcast 4-byte activation group
// times one weight vector feeds 8 columns; `depth` steps are summed in i16
// before one madd widens them (the caller bounds |u| * |w| for that).
#include "kernels/quant_table.h"

#if defined(SD_X86_DISPATCH)
#include <immintrin.h>

#include <cstring>

#include "kernels/kernel_table.h"

namespace sd {
namespace kern {
namespace {

inline float hsum(__m256 v) {
  // ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7)), as the scalar reference.
  const __m128 a = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 b = _mm_add_ps(a, _mm_movehl_ps(a, a));
  return _mm_cvtss_f32(_mm_add_ss(b, _mm_shuffle_ps(b, b, 1)));
}

void dot_1x4(int64_t groups, const QRow& w, const QRow* x, float* out) {
  const __m256i ones = _mm256_set1_epi16(1);
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  for (int64_t g = 0; g < groups; ++g) {
    const int8_t* wq = w.q + g * 256;
    __m256i s32[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256()};
    for (int half = 0; half < 2; ++half) {
      __m256i s16[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256()};
      for (int t = half * 4; t < half * 4 + 4; ++t) {
        const __m256i wv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wq + t * 32));
        for (int j = 0; j < 4; ++j) {
          const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[j].q + g * 256 + t * 32));
          s16[j] = _mm256_add_epi16(s16[j], _mm256_maddubs_epi16(wv, xv));
        }
      }
      for (int j = 0; j < 4; ++j) s32[j] = _mm256_add_epi32(s32[j], _mm256_madd_epi16(s16[j], ones));
    }
    const __m256 wd = _mm256_loadu_ps(w.d + g * 8);
    for (int j = 0; j < 4; ++j) {
      const __m256 sc = _mm256_mul_ps(wd, _mm256_loadu_ps(x[j].d + g * 8));
      acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s32[j]), sc, acc[j]);
      acc[j] = _mm256_fmadd_ps(_mm256_loadu_ps(w.ms + g * 8), _mm256_loadu_ps(x[j].ms + g * 8), acc[j]);
    }
  }
  for (int j = 0; j < 4; ++j) out[j] = hsum(acc[j]);
}

void quantize_act(const float* x, int64_t nb, int qmax, uint8_t* u, float* d) {
  const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  const __m256i hi = _mm256_set1_epi32(qmax), lo = _mm256_set1_epi32(-qmax), off = _mm256_set1_epi32(qmax + 1);
  const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  for (int64_t b = 0; b < nb; ++b) {
    __m256 v[4];
    for (int i = 0; i < 4; ++i) v[i] = _mm256_loadu_ps(x + b * 32 + i * 8);
    __m256 m = _mm256_max_ps(_mm256_max_ps(_mm256_and_ps(v[0], absmask), _mm256_and_ps(v[1], absmask)),
                             _mm256_max_ps(_mm256_and_ps(v[2], absmask), _mm256_and_ps(v[3], absmask)));
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_shuffle_ps(m4, m4, 1));
    const float dd = _mm_cvtss_f32(m4) / float(qmax), id = dd != 0.f ? 1.f / dd : 0.f;
    const __m256 vid = _mm256_set1_ps(id);
    __m256i q[4];
    for (int i = 0; i < 4; ++i) {
      const __m256i r = _mm256_cvtps_epi32(_mm256_mul_ps(v[i], vid));  // round to nearest even, as lrintf
      q[i] = _mm256_add_epi32(_mm256_min_epi32(_mm256_max_epi32(r, lo), hi), off);
    }
    // packs/packus interleave 128-bit lanes: dwords come out as q0a q1a q2a q3a q0b q1b q2b q3b.
    const __m256i p = _mm256_packus_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(u + b * 32), _mm256_permutevar8x32_epi32(p, order));
    d[b] = dd;
  }
}

inline __m256i bcast4(const uint8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm256_set1_epi32(v);
}

template <int Depth, bool Off>
void panel_4x8_t(int64_t nb, const uint8_t* const* xu, const float* const* xd, const QPanel& w, float* out) {
  const __m256i ones = _mm256_set1_epi16(1);
  __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
  const uint8_t *x0 = xu[0], *x1 = xu[1], *x2 = xu[2], *x3 = xu[3];
  for (int64_t b = 0; b < nb; ++b) {
    const int8_t* wb = w.q + b * 256;
    __m256i s0 = _mm256_setzero_si256(), s1 = s0, s2 = s0, s3 = s0;  // i32 sums of the block
    for (int t0 = 0; t0 < 8; t0 += Depth) {
      __m256i h0 = _mm256_setzero_si256(), h1 = h0, h2 = h0, h3 = h0;  // i16 sums of Depth steps
      for (int t = t0; t < t0 + Depth; ++t) {
        const __m256i wv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wb + t * 32));
        h0 = _mm256_add_epi16(h0, _mm256_maddubs_epi16(bcast4(x0 + 4 * t), wv));
        h1 = _mm256_add_epi16(h1, _mm256_maddubs_epi16(bcast4(x1 + 4 * t), wv));
        h2 = _mm256_add_epi16(h2, _mm256_maddubs_epi16(bcast4(x2 + 4 * t), wv));
        h3 = _mm256_add_epi16(h3, _mm256_maddubs_epi16(bcast4(x3 + 4 * t), wv));
      }
      s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(h0, ones));
      s1 = _mm256_add_epi32(s1, _mm256_madd_epi16(h1, ones));
      s2 = _mm256_add_epi32(s2, _mm256_madd_epi16(h2, ones));
      s3 = _mm256_add_epi32(s3, _mm256_madd_epi16(h3, ones));
    }
    const __m256i corr = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w.corr + b * 8));
    const __m256 wd = _mm256_loadu_ps(w.d + b * 8);
    acc0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(s0, corr)), _mm256_mul_ps(wd, _mm256_set1_ps(xd[0][b])), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(s1, corr)), _mm256_mul_ps(wd, _mm256_set1_ps(xd[1][b])), acc1);
    acc2 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(s2, corr)), _mm256_mul_ps(wd, _mm256_set1_ps(xd[2][b])), acc2);
    acc3 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(s3, corr)), _mm256_mul_ps(wd, _mm256_set1_ps(xd[3][b])), acc3);
    if (Off) {  // + off * d_x * sum(q_x) per block
      const __m256 wo = _mm256_loadu_ps(w.off + b * 8);
      acc0 = _mm256_fmadd_ps(wo, _mm256_set1_ps(xd[0][nb + b]), acc0);
      acc1 = _mm256_fmadd_ps(wo, _mm256_set1_ps(xd[1][nb + b]), acc1);
      acc2 = _mm256_fmadd_ps(wo, _mm256_set1_ps(xd[2][nb + b]), acc2);
      acc3 = _mm256_fmadd_ps(wo, _mm256_set1_ps(xd[3][nb + b]), acc3);
    }
    x0 += 32, x1 += 32, x2 += 32, x3 += 32;
  }
  _mm256_storeu_ps(out, acc0);
  _mm256_storeu_ps(out + 8, acc1);
  _mm256_storeu_ps(out + 16, acc2);
  _mm256_storeu_ps(out + 24, acc3);
}

void panel_4x8(int64_t nb, int depth, const uint8_t* const* xu, const float* const* xd, const QPanel& w, float* out) {
  const bool off = w.off != nullptr;
  switch (depth) {
    case 8: return off ? panel_4x8_t<8, true>(nb, xu, xd, w, out) : panel_4x8_t<8, false>(nb, xu, xd, w, out);
    case 4: return off ? panel_4x8_t<4, true>(nb, xu, xd, w, out) : panel_4x8_t<4, false>(nb, xu, xd, w, out);
    case 2: return off ? panel_4x8_t<2, true>(nb, xu, xd, w, out) : panel_4x8_t<2, false>(nb, xu, xd, w, out);
    case 1: return off ? panel_4x8_t<1, true>(nb, xu, xd, w, out) : panel_4x8_t<1, false>(nb, xu, xd, w, out);
    default: fail_internal("quant panel_4x8 needs exact 8x8-bit products; bad depth", depth);
  }
}

// One panel of 8 columns of 4- or 5-bit codes: per block, each column's 32
// codes (low nibbles then high nibbles, | the fifth bit, minus the bias) as 8
// dwords, then an 8x8 dword transpose so vector g holds dword g of columns
// 0..7. Same values as the driver's signed_codes().
void pack_panel(DType t, const uint8_t* const* cols, int64_t nb, int8_t* q, float* d, int32_t* corr, float* off) {
  // Block layout: bytes, offset of the 16 nibble bytes, of the 32 fifth bits (-1: none), of m (-1: none).
  const bool five = t == DType::Q5_0 || t == DType::Q5_1, one = t == DType::Q4_1 || t == DType::Q5_1;
  const int64_t bytes = dtype_block_bytes(t);
  const int qs_at = int(bytes) - 16, qh_at = five ? qs_at - 4 : -1, bias = five ? 16 : 8;
  const __m128i low4 = _mm_set1_epi8(0x0F);
  const __m256i vbias = _mm256_set1_epi8(char(bias));
  // Fifth bits: byte i of the block takes bit i of the 32-bit qh word.
  const __m256i spread = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
  const __m256i bit = _mm256_set1_epi64x(0x8040201008040201ll);
  for (int64_t b = 0; b < nb; ++b) {
    __m256i c[8];
    for (int j = 0; j < 8; ++j) {
      if (!cols[j]) {
        c[j] = _mm256_setzero_si256();
        d[b * 8 + j] = 0.f;
        corr[b * 8 + j] = 0;
        if (off) off[b * 8 + j] = 0.f;
        continue;
      }
      const uint8_t* p = cols[j] + b * bytes;
      uint16_t h;
      std::memcpy(&h, p, 2);
      const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + qs_at));
      __m256i u = _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(v, 4), low4), _mm_and_si128(v, low4));  // unsigned codes
      if (five) {
        int32_t qh;
        std::memcpy(&qh, p + qh_at, 4);
        const __m256i hb = _mm256_shuffle_epi8(_mm256_set1_epi32(qh), spread);
        u = _mm256_or_si256(u, _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(hb, bit), bit), _mm256_set1_epi8(0x10)));
      }
      const __m256i s = _mm256_sad_epu8(u, _mm256_setzero_si256());
      const __m128i s2 = _mm_add_epi64(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
      const int sum = _mm_cvtsi128_si32(_mm_add_epi64(s2, _mm_unpackhi_epi64(s2, s2))) - bias * 32;
      c[j] = _mm256_sub_epi8(u, vbias);
      const float dd = _cvtsh_ss(h);
      d[b * 8 + j] = dd;
      corr[b * 8 + j] = 128 * sum;
      if (off) {
        uint16_t m = 0;
        if (one) std::memcpy(&m, p + 2, 2);
        off[b * 8 + j] = _cvtsh_ss(m) + float(bias) * dd;  // bias * dd is exact: fused or not, one rounding
      }
    }
    __m256i tt[8], v[8];
    for (int j = 0; j < 8; j += 2) {
      tt[j] = _mm256_unpacklo_epi32(c[j], c[j + 1]);      // dwords 0,1 | 4,5 of columns j, j+1
      tt[j + 1] = _mm256_unpackhi_epi32(c[j], c[j + 1]);  // dwords 2,3 | 6,7
    }
    for (int j = 0; j < 8; j += 4) {
      v[j] = _mm256_unpacklo_epi64(tt[j], tt[j + 2]);          // dword 0 | 4 of columns j..j+3
      v[j + 1] = _mm256_unpackhi_epi64(tt[j], tt[j + 2]);      // dword 1 | 5
      v[j + 2] = _mm256_unpacklo_epi64(tt[j + 1], tt[j + 3]);  // dword 2 | 6
      v[j + 3] = _mm256_unpackhi_epi64(tt[j + 1], tt[j + 3]);  // dword 3 | 7
    }
    __m256i* out = reinterpret_cast<__m256i*>(q + b * 256);
    for (int g = 0; g < 4; ++g) {
      _mm256_storeu_si256(out + g, _mm256_permute2x128_si256(v[g], v[4 + g], 0x20));
      _mm256_storeu_si256(out + 4 + g, _mm256_permute2x128_si256(v[g], v[4 + g], 0x31));
    }
  }
}

// 8 int8 codes at p -> y[0..8) = d * code.
inline void store8(__m128i codes, __m256 d, float* y) {
  _mm256_storeu_ps(y, _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(codes))));
}

void dequantize(DType t, const uint8_t* src, int64_t nb, float* y) {
  const __m128i low4 = _mm_set1_epi8(0x0F), eight = _mm_set1_epi8(8);
  for (int64_t b = 0; b < nb; ++b, y += 32) {
    uint16_t h;
    if (t == DType::Q8_0) {
      const uint8_t* p = src + b * 34;
      std::memcpy(&h, p, 2);
      const __m256 d = _mm256_set1_ps(_cvtsh_ss(h));
      const __m128i c0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 2));
      const __m128i c1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 18));
      store8(c0, d, y);
      store8(_mm_unpackhi_epi64(c0, c0), d, y + 8);
      store8(c1, d, y + 16);
      store8(_mm_unpackhi_epi64(c1, c1), d, y + 24);
    } else {  // q4_0: value i < 16 is the low nibble of byte i, value 16 + i its high nibble
      const uint8_t* p = src + b * 18;
      std::memcpy(&h, p, 2);
      const __m256 d = _mm256_set1_ps(_cvtsh_ss(h));
      const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 2));
      const __m128i lo = _mm_sub_epi8(_mm_and_si128(v, low4), eight);
      const __m128i hi = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(v, 4), low4), eight);
      store8(lo, d, y);
      store8(_mm_unpackhi_epi64(lo, lo), d, y + 8);
      store8(hi, d, y + 16);
      store8(_mm_unpackhi_epi64(hi, hi), d, y + 24);
    }
  }
}

}  // namespace

const QuantTable* quant_avx2_table() {
  static const QuantTable t{"avx2", dot_1x4, quantize_act, panel_4x8, false, dequantize, true, pack_panel};
  return &t;
}

}  // namespace kern
}  // namespace sd

#else
namespace sd {
namespace kern {
const QuantTable* quant_avx2_table() { return nullptr; }
}  // namespace kern
}  // namespace sd
#endif
