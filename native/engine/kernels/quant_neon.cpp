// arm64 NEON integer GEMM kernels (quant_table.h contracts) for every
// AArch64 CPU: the 4-byte dot products as s8 x s8 -> s16 widening
// multiplies, adjacent pairs summed in s16 (|pair| <= 2 * 127 * 128 < 2^15:
// activations are in [-127, 127], so this is exact), then pairs of pairs
// widened into i32 lanes. CPUs with the dot-product extension take
// quant_neon_dotprod.cpp's SDOT kernels instead, with this file's activation
// quantization and dequantization. Off AArch64 the table is nullptr.
#include "kernels/quant_table.h"

#if defined(__aarch64__) && defined(__GNUC__)
#include <arm_neon.h>

#include <cmath>
#include <cstring>

#include "kernels/quant_neon_impl.h"
#include "quant/block_codecs.h"
#include "quant/blocks.h"

namespace sd {
namespace kern {
namespace {

struct DotMull {
  static int32x4_t dot(int32x4_t acc, int8x16_t a, int8x16_t b) {
    const int16x8_t lo = vmull_s8(vget_low_s8(a), vget_low_s8(b)), hi = vmull_high_s8(a, b);  // products of bytes 0..7, 8..15
    return vpadalq_s16(acc, vpaddq_s16(lo, hi));
  }
  // b's 4-byte group L against every group of a.
  template <int L>
  static int32x4_t dot_lane(int32x4_t acc, int8x16_t a, int8x16_t b) {
    return dot(acc, a, vreinterpretq_s8_s32(vdupq_laneq_s32(vreinterpretq_s32_s8(b), L)));
  }
};

void quantize_act(const float* x, int64_t nb, int qmax, uint8_t* u, float* d) {
  const int32x4_t hi = vdupq_n_s32(qmax), lo = vdupq_n_s32(-qmax), off = vdupq_n_s32(qmax + 1);
  for (int64_t b = 0; b < nb; ++b) {
    float32x4_t v[8];  // the block's 32 values
    for (int i = 0; i < 8; ++i) v[i] = vld1q_f32(x + b * 32 + 4 * i);
    float32x4_t m = vabsq_f32(v[0]);
    for (int i = 1; i < 8; ++i) m = vmaxnmq_f32(m, vabsq_f32(v[i]));  // maxnm: a NaN value is skipped, as std::max(amax, NaN)
    const float dd = vmaxnmvq_f32(m) / float(qmax), id = dd != 0.f ? 1.f / dd : 0.f;
    uint16x4_t n[8];
    for (int i = 0; i < 8; ++i) {
      const int32x4_t q = vcvtnq_s32_f32(vmulq_n_f32(v[i], id));  // round to nearest even, as lrintf
      n[i] = vmovn_u32(vreinterpretq_u32_s32(vaddq_s32(vminq_s32(vmaxq_s32(q, lo), hi), off)));
    }
    vst1q_u8(u + b * 32, vcombine_u8(vmovn_u16(vcombine_u16(n[0], n[1])), vmovn_u16(vcombine_u16(n[2], n[3]))));
    vst1q_u8(u + b * 32 + 16, vcombine_u8(vmovn_u16(vcombine_u16(n[4], n[5])), vmovn_u16(vcombine_u16(n[6], n[7]))));
    d[b] = dd;
  }
}

// y[0..16) = d * codes (exact: f16 scale x small integer).
inline void store16(int8x16_t c, float d, float* y) {
  const int16x8_t lo = vmovl_s8(vget_low_s8(c)), hi = vmovl_high_s8(c);
  vst1q_f32(y, vmulq_n_f32(vcvtq_f32_s32(vmovl_s16(vget_low_s16(lo))), d));
  vst1q_f32(y + 4, vmulq_n_f32(vcvtq_f32_s32(vmovl_high_s16(lo)), d));
  vst1q_f32(y + 8, vmulq_n_f32(vcvtq_f32_s32(vmovl_s16(vget_low_s16(hi))), d));
  vst1q_f32(y + 12, vmulq_n_f32(vcvtq_f32_s32(vmovl_high_s16(hi)), d));
}

// Rows a..d (4 dwords each) -> columns: a = dword 0 of a..d, ..., d = dword 3.
inline void transpose4(int32x4_t& a, int32x4_t& b, int32x4_t& c, int32x4_t& d) {
  const int64x2_t t0 = vreinterpretq_s64_s32(vtrn1q_s32(a, b)), t1 = vreinterpretq_s64_s32(vtrn2q_s32(a, b));  // a0 b0 a2 b2 | a1 b1 a3 b3
  const int64x2_t t2 = vreinterpretq_s64_s32(vtrn1q_s32(c, d)), t3 = vreinterpretq_s64_s32(vtrn2q_s32(c, d));  // c0 d0 c2 d2 | c1 d1 c3 d3
  a = vreinterpretq_s32_s64(vtrn1q_s64(t0, t2));
  b = vreinterpretq_s32_s64(vtrn1q_s64(t1, t3));
  c = vreinterpretq_s32_s64(vtrn2q_s64(t0, t2));
  d = vreinterpretq_s32_s64(vtrn2q_s64(t1, t3));
}

// Block b (a k-quant's sub-block b % 8 of super-block b / 8) of a 4- or
// 5-bit row as 32 unsigned codes u in value order (u0: values 0..15, u1:
// 16..31), its scale d and constant c: w = d * u + c, where d * u is exact
// (so one rounding, as the block codecs). The panels take codes u - bias and
// offset o = c + bias * d (the driver's signed_codes(), bit for bit: both
// terms are exact).
class ColumnDecoder {
 public:
  explicit ColumnDecoder(DType t) : f_(t) {}
  int bias() const { return f_.bias; }
  bool constant() const { return f_.one || f_.kquant; }  // c is more than -bias * d

  void codes(const uint8_t* row, int64_t b, uint8x16_t* u0, uint8x16_t* u1, float* d, float* c) const {
    if (f_.kquant)
      kquant_codes(row, b, u0, u1, d, c);
    else
      legacy_codes(row, b, u0, u1, d, c);
  }

 private:
  // Legacy 32-value blocks: f16 d, f16 m (_1), 32 fifth bits (q5), 16 bytes of low / high nibbles for values i / i + 16.
  void legacy_codes(const uint8_t* row, int64_t b, uint8x16_t* u0, uint8x16_t* u1, float* d, float* c) const {
    // Fifth bits: code i takes bit i of the 32-bit qh word (byte i / 8, bit i % 8).
    static const uint8_t kSpreadLo[16] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1};
    static const uint8_t kBits[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
    const uint8_t* p = row + b * f_.bytes;
    const int qs_at = int(f_.bytes) - 16;
    const uint8x16_t v = vld1q_u8(p + qs_at);
    *u0 = vandq_u8(v, vdupq_n_u8(0x0F));
    *u1 = vshrq_n_u8(v, 4);
    if (f_.five) {
      uint32_t qh;
      std::memcpy(&qh, p + qs_at - 4, 4);
      const uint8x16_t h = vreinterpretq_u8_u32(vdupq_n_u32(qh)), bit5 = vdupq_n_u8(0x10), bits = vld1q_u8(kBits);
      const uint8x16_t spread_lo = vld1q_u8(kSpreadLo), spread_hi = vaddq_u8(spread_lo, vdupq_n_u8(2));
      *u0 = vorrq_u8(*u0, vandq_u8(vtstq_u8(vqtbl1q_u8(h, spread_lo), bits), bit5));
      *u1 = vorrq_u8(*u1, vandq_u8(vtstq_u8(vqtbl1q_u8(h, spread_hi), bits), bit5));
    }
    *d = quant::rd_half(p);
    *c = f_.one ? quant::rd_half(p + 2) : -float(f_.bias) * *d;
  }

  // q4_K / q5_K sub-block b % 8 of super-block b / 8: low or high nibbles of 32 bytes, | bit j of the 32 fifth-bit bytes.
  void kquant_codes(const uint8_t* row, int64_t b, uint8x16_t* u0, uint8x16_t* u1, float* d, float* c) const {
    const uint8_t* p = row + (b / 8) * f_.bytes;
    const int j = int(b % 8);
    const uint8_t* qs = p + (f_.five ? 48 : 16) + 32 * (j / 2);
    const uint8x16_t low4 = vdupq_n_u8(0x0F);
    const uint8x16_t v0 = vld1q_u8(qs), v1 = vld1q_u8(qs + 16);
    *u0 = j % 2 ? vshrq_n_u8(v0, 4) : vandq_u8(v0, low4);
    *u1 = j % 2 ? vshrq_n_u8(v1, 4) : vandq_u8(v1, low4);
    if (f_.five) {
      const uint8x16_t bit = vdupq_n_u8(uint8_t(1 << j)), bit5 = vdupq_n_u8(0x10);
      *u0 = vorrq_u8(*u0, vandq_u8(vtstq_u8(vld1q_u8(p + 16), bit), bit5));
      *u1 = vorrq_u8(*u1, vandq_u8(vtstq_u8(vld1q_u8(p + 32), bit), bit5));
    }
    float m;
    quant::k_sub_scale(p, j, quant::rd_half(p), quant::rd_half(p + 2), d, &m);
    *c = -m;
  }

  LowBitLayout f_;
};

// One panel of 8 columns of 4- or 5-bit codes: per block, each column's 32
// codes minus the bias as 8 dwords, then two 4x4 dword transposes per half
// so vector g holds dword g of columns 0..7.
void pack_panel(DType t, const uint8_t* const* cols, int64_t nb, int8_t* q, float* d, int32_t* corr, float* off) {
  const ColumnDecoder dec(t);
  const uint8x16_t vbias = vdupq_n_u8(uint8_t(dec.bias()));
  for (int64_t b = 0; b < nb; ++b) {
    int32x4_t lo[8], hi[8];  // [column] codes 0..15, 16..31 as 4 dwords each
    for (int j = 0; j < 8; ++j) {
      if (!cols[j]) {
        lo[j] = hi[j] = vdupq_n_s32(0);
        d[b * 8 + j] = 0.f;
        corr[b * 8 + j] = 0;
        if (off) off[b * 8 + j] = 0.f;
        continue;
      }
      uint8x16_t u0, u1;
      float dd, cc;
      dec.codes(cols[j], b, &u0, &u1, &dd, &cc);
      const int sum = int(vaddlvq_u8(u0)) + int(vaddlvq_u8(u1)) - dec.bias() * 32;
      lo[j] = vreinterpretq_s32_u8(vsubq_u8(u0, vbias));
      hi[j] = vreinterpretq_s32_u8(vsubq_u8(u1, vbias));
      d[b * 8 + j] = dd;
      corr[b * 8 + j] = 128 * sum;
      if (off) off[b * 8 + j] = cc + float(dec.bias()) * dd;
    }
    transpose4(lo[0], lo[1], lo[2], lo[3]);  // lo[g] = dword g of columns 0..3
    transpose4(lo[4], lo[5], lo[6], lo[7]);  // lo[4 + g] = dword g of columns 4..7
    transpose4(hi[0], hi[1], hi[2], hi[3]);
    transpose4(hi[4], hi[5], hi[6], hi[7]);
    int32_t* out = reinterpret_cast<int32_t*>(q + b * 256);  // vector g: 8 dwords
    for (int g = 0; g < 4; ++g) {
      vst1q_s32(out + g * 8, lo[g]);
      vst1q_s32(out + g * 8 + 4, lo[4 + g]);
      vst1q_s32(out + (4 + g) * 8, hi[g]);
      vst1q_s32(out + (4 + g) * 8 + 4, hi[4 + g]);
    }
  }
}

// 16 unsigned codes -> y[0..16) = c + d * code (d * code is exact: one rounding, as the block codecs).
inline void store16_affine(uint8x16_t u, float d, float c, float* y) {
  const uint16x8_t lo = vmovl_u8(vget_low_u8(u)), hi = vmovl_high_u8(u);
  const float32x4_t vc = vdupq_n_f32(c);
  vst1q_f32(y, vfmaq_n_f32(vc, vcvtq_f32_u32(vmovl_u16(vget_low_u16(lo))), d));
  vst1q_f32(y + 4, vfmaq_n_f32(vc, vcvtq_f32_u32(vmovl_high_u16(lo)), d));
  vst1q_f32(y + 8, vfmaq_n_f32(vc, vcvtq_f32_u32(vmovl_u16(vget_low_u16(hi))), d));
  vst1q_f32(y + 12, vfmaq_n_f32(vc, vcvtq_f32_u32(vmovl_high_u16(hi)), d));
}

void dequantize(DType t, const uint8_t* src, int64_t n, float* y) {
  switch (t) {
    case DType::Q8_0:  // f16 d, 32 int8 codes
      for (int64_t b = 0; b < n / 32; ++b, y += 32) {
        const uint8_t* p = src + b * 34;
        const float d = quant::rd_half(p);
        store16(vld1q_s8(reinterpret_cast<const int8_t*>(p + 2)), d, y);
        store16(vld1q_s8(reinterpret_cast<const int8_t*>(p + 18)), d, y + 16);
      }
      return;
    case DType::Q4_0:
    case DType::Q4_1:
    case DType::Q5_0:
    case DType::Q5_1:
    case DType::Q4_K:
    case DType::Q5_K: {
      // The _0 formats as d * (u - bias), as their codecs (a negative d gives -0 for code 0 there).
      const ColumnDecoder dec(t);
      const uint8x16_t vbias = vdupq_n_u8(uint8_t(dec.bias()));
      for (int64_t b = 0; b < n / 32; ++b, y += 32) {
        uint8x16_t u0, u1;
        float d, c;
        dec.codes(src, b, &u0, &u1, &d, &c);
        if (dec.constant()) {
          store16_affine(u0, d, c, y);
          store16_affine(u1, d, c, y + 16);
        } else {
          store16(vreinterpretq_s8_u8(vsubq_u8(u0, vbias)), d, y);
          store16(vreinterpretq_s8_u8(vsubq_u8(u1, vbias)), d, y + 16);
        }
      }
      return;
    }
    default: return quant::dequantize_row(t, src, n, y);
  }
}

}  // namespace

const QuantTable* quant_neon_table() {
  static const QuantTable t{"neon", quantize_act, panel_4x8_any<DotMull>, true, dequantize, true, pack_panel};
  return &t;
}

}  // namespace kern
}  // namespace sd

#else
namespace sd {
namespace kern {
const QuantTable* quant_neon_table() { return nullptr; }
}  // namespace kern
}  // namespace sd
#endif
