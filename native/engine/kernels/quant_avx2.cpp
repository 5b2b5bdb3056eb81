// AVX2 integer GEMM kernels (quant_table.h contracts): maddubs (u8 x s8 ->
// pairs of i16), madd with ones (-> i32 lanes). A broadcast 4-byte
// activation group times one weight vector feeds 8 columns; `depth` steps
// are summed in i16 before one madd widens them (the caller bounds
// |u| * |w| for that).
#include "kernels/quant_table.h"

#if defined(SD_X86_DISPATCH)
#include <immintrin.h>

#include <cstring>

#include "kernels/kernel_table.h"
#include "quant/block_codecs.h"
#include "quant/blocks.h"

namespace sd {
namespace kern {
namespace {

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

// Block b (a k-quant's sub-block b % 8 of super-block b / 8) of a 4- or
// 5-bit row as 32 unsigned codes u in value order, its scale d and constant
// c: w = d * u + c, where d * u is exact (so one rounding, as the block
// codecs). The panels take codes u - bias and offset o = c + bias * d (the
// driver's signed_codes(), bit for bit: both terms are exact).
class ColumnDecoder {
 public:
  explicit ColumnDecoder(DType t) : f_(t) {}
  int bias() const { return f_.bias; }
  bool constant() const { return f_.one || f_.kquant; }  // c is more than -bias * d

  __m256i codes(const uint8_t* row, int64_t b, float* d, float* c) const {
    return f_.kquant ? kquant_codes(row, b, d, c) : legacy_codes(row, b, d, c);
  }

 private:
  // Legacy 32-value blocks: f16 d, f16 m (_1), 32 fifth bits (q5), 16 bytes of low / high nibbles for values i / i + 16.
  __m256i legacy_codes(const uint8_t* row, int64_t b, float* d, float* c) const {
    const uint8_t* p = row + b * f_.bytes;
    const int qs_at = int(f_.bytes) - 16;
    uint16_t h, m = 0;
    std::memcpy(&h, p, 2);
    if (f_.one) std::memcpy(&m, p + 2, 2);
    const __m128i low4 = _mm_set1_epi8(0x0F);
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + qs_at));
    __m256i u = _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(v, 4), low4), _mm_and_si128(v, low4));
    if (f_.five) {  // byte i takes bit i of the 32-bit qh word
      const __m256i spread =
          _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
      const __m256i bit = _mm256_set1_epi64x(0x8040201008040201ll);
      int32_t qh;
      std::memcpy(&qh, p + qs_at - 4, 4);
      const __m256i hb = _mm256_shuffle_epi8(_mm256_set1_epi32(qh), spread);
      u = _mm256_or_si256(u, _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(hb, bit), bit), _mm256_set1_epi8(0x10)));
    }
    *d = _cvtsh_ss(h);
    *c = f_.one ? _cvtsh_ss(m) : -float(f_.bias) * *d;
    return u;
  }

  // q4_K / q5_K sub-block b % 8 of super-block b / 8: low or high nibbles of 32 bytes, | bit j of the 32 fifth-bit bytes.
  __m256i kquant_codes(const uint8_t* row, int64_t b, float* d, float* c) const {
    const uint8_t* p = row + (b / 8) * f_.bytes;
    const int j = int(b % 8);
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + (f_.five ? 48 : 16) + 32 * (j / 2)));
    __m256i u = _mm256_and_si256(j % 2 ? _mm256_srli_epi16(v, 4) : v, _mm256_set1_epi8(0x0F));
    if (f_.five) {
      const __m256i bit = _mm256_set1_epi8(char(1 << j));
      const __m256i hb = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 16));
      u = _mm256_or_si256(u, _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(hb, bit), bit), _mm256_set1_epi8(0x10)));
    }
    uint16_t h[2];  // d, dmin
    std::memcpy(h, p, 4);
    float m;
    quant::k_sub_scale(p, j, _cvtsh_ss(h[0]), _cvtsh_ss(h[1]), d, &m);
    *c = -m;
    return u;
  }

  LowBitLayout f_;
};

// One panel of 8 columns of 4- or 5-bit codes: per block, each column's 32
// codes minus the bias as 8 dwords, then an 8x8 dword transpose so vector g
// holds dword g of columns 0..7.
void pack_panel(DType t, const uint8_t* const* cols, int64_t nb, int8_t* q, float* d, int32_t* corr, float* off) {
  const ColumnDecoder dec(t);
  const __m256i vbias = _mm256_set1_epi8(char(dec.bias()));
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
      float dd, cc;
      const __m256i u = dec.codes(cols[j], b, &dd, &cc);
      const __m256i s = _mm256_sad_epu8(u, _mm256_setzero_si256());
      const __m128i s2 = _mm_add_epi64(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
      const int sum = _mm_cvtsi128_si32(_mm_add_epi64(s2, _mm_unpackhi_epi64(s2, s2))) - dec.bias() * 32;
      c[j] = _mm256_sub_epi8(u, vbias);
      d[b * 8 + j] = dd;
      corr[b * 8 + j] = 128 * sum;
      if (off) off[b * 8 + j] = cc + float(dec.bias()) * dd;
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

// 8 int8 codes -> y[0..8) = d * code.
inline void store8(__m128i codes, __m256 d, float* y) {
  _mm256_storeu_ps(y, _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(codes))));
}

// 32 unsigned codes -> y[0..32) = s * code - m (s * code is exact: one rounding, as the block codecs).
inline void store32_affine(__m256i codes, __m256 s, __m256 m, float* y) {
  const __m128i lo = _mm256_castsi256_si128(codes), hi = _mm256_extracti128_si256(codes, 1);
  const __m128i parts[4] = {lo, _mm_unpackhi_epi64(lo, lo), hi, _mm_unpackhi_epi64(hi, hi)};
  for (int i = 0; i < 4; ++i) _mm256_storeu_ps(y + 8 * i, _mm256_fmsub_ps(s, _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(parts[i])), m));
}

void dequantize_q8_0(const uint8_t* src, int64_t nb, float* y) {
  for (int64_t b = 0; b < nb; ++b, y += 32) {
    const uint8_t* p = src + b * 34;
    uint16_t h;
    std::memcpy(&h, p, 2);
    const __m256 d = _mm256_set1_ps(_cvtsh_ss(h));
    const __m128i c0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 2));
    const __m128i c1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 18));
    store8(c0, d, y);
    store8(_mm_unpackhi_epi64(c0, c0), d, y + 8);
    store8(c1, d, y + 16);
    store8(_mm_unpackhi_epi64(c1, c1), d, y + 24);
  }
}

// 4- and 5-bit formats: w = d * u + c per block, as ColumnDecoder reads it;
// the _0 formats as d * (u - bias), as their codecs (a negative d gives -0
// for code 0 there).
void dequantize_4_5(DType t, const uint8_t* src, int64_t nb, float* y) {
  const ColumnDecoder dec(t);
  const __m256i vbias = _mm256_set1_epi8(char(dec.bias()));
  for (int64_t b = 0; b < nb; ++b, y += 32) {
    float d, c;
    const __m256i u = dec.codes(src, b, &d, &c);
    if (dec.constant()) {
      store32_affine(u, _mm256_set1_ps(d), _mm256_set1_ps(-c), y);
    } else {
      const __m256i q = _mm256_sub_epi8(u, vbias);
      const __m128i lo = _mm256_castsi256_si128(q), hi = _mm256_extracti128_si256(q, 1);
      const __m256 vd = _mm256_set1_ps(d);
      store8(lo, vd, y);
      store8(_mm_unpackhi_epi64(lo, lo), vd, y + 8);
      store8(hi, vd, y + 16);
      store8(_mm_unpackhi_epi64(hi, hi), vd, y + 24);
    }
  }
}

// q6_K super-blocks (ql[128] | qh[64] | int8 scales[16] | f16 d): per
// 128-value half h and part p (32 values), the low nibbles of ql[64h + 32(p & 1)
// ..] (high nibbles for p >= 2) | bits 2p of qh[32h ..] << 4, minus 32,
// times s = d * scale per 16 values; s * code rounds once, as the codec.
void dequantize_q6_K(const uint8_t* src, int64_t supers, float* y) {
  const __m256i low4 = _mm256_set1_epi8(0x0F), three = _mm256_set1_epi8(3), bias = _mm256_set1_epi8(32);
  for (int64_t sb = 0; sb < supers; ++sb) {
    const uint8_t* p = src + sb * 210;
    uint16_t h;
    std::memcpy(&h, p + 208, 2);
    const float d = _cvtsh_ss(h);
    for (int half = 0; half < 2; ++half) {
      const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 128 + 32 * half));
      for (int part = 0; part < 4; ++part, y += 32) {
        const __m256i ql = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 64 * half + 32 * (part & 1)));
        const __m256i lo = _mm256_and_si256(part >= 2 ? _mm256_srli_epi16(ql, 4) : ql, low4);
        const __m256i hi = _mm256_and_si256(_mm256_srl_epi16(qh, _mm_cvtsi32_si128(2 * part)), three);
        const __m256i q = _mm256_sub_epi8(_mm256_or_si256(lo, _mm256_slli_epi16(hi, 4)), bias);
        const int8_t* sc = reinterpret_cast<const int8_t*>(p + 192 + 8 * half + 2 * part);
        const __m256 s0 = _mm256_set1_ps(d * float(sc[0])), s1 = _mm256_set1_ps(d * float(sc[1]));
        const __m128i q0 = _mm256_castsi256_si128(q), q1 = _mm256_extracti128_si256(q, 1);
        store8(q0, s0, y);
        store8(_mm_unpackhi_epi64(q0, q0), s0, y + 8);
        store8(q1, s1, y + 16);
        store8(_mm_unpackhi_epi64(q1, q1), s1, y + 24);
      }
    }
  }
}

void dequantize(DType t, const uint8_t* src, int64_t n, float* y) {
  switch (t) {
    case DType::Q8_0: return dequantize_q8_0(src, n / 32, y);
    case DType::Q4_0:
    case DType::Q4_1:
    case DType::Q5_0:
    case DType::Q5_1:
    case DType::Q4_K:
    case DType::Q5_K: return dequantize_4_5(t, src, n / 32, y);
    case DType::Q6_K: return dequantize_q6_K(src, n / 256, y);
    default: return quant::dequantize_row(t, src, n, y);
  }
}

}  // namespace

const QuantTable* quant_avx2_table() {
  static const QuantTable t{"avx2", quantize_act, panel_4x8, false, dequantize, true, pack_panel};
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
