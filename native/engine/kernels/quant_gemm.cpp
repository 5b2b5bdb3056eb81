// Integer GEMM driver: quantize the activation rows, pack the weights into
// 8-column panels (quant_table.h), then output tiles in parallel: tiles of
// kPanelMt rows x kPanelNt panels, each a loop of 4x8 kernels (a panel stays
// in L1 while the tile's activation rows stream from L2). Formats with a
// per-block offset (q4_1, q5_1, and the k-quants q4_K, q5_K, whose 32-value
// sub-blocks carry their own scale and min) add it per block as
// off * d_x * sum(q_x).
#include "kernels/quant_gemm.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "core/error.h"
#include "kernels/op_checks.h"
#include "kernels/quant_table.h"
#include "quant/block_codecs.h"
#include "tensor/cpu_features.h"
#include "tensor/thread_pool.h"

namespace sd {
namespace kern {
namespace {

constexpr int64_t kPanelMt = 64, kPanelNt = 8;

// Panel path parameters per weight format: activations are quantized to
// [-qmax, qmax] and stored as u = q + qmax + 1 (u <= 255); weight codes are
// signed (signed_codes(), w = d * code, + o with `offset`); `depth` 4-value
// steps fit in an i16 sum (AVX2 maddubs): 2 * depth * 255 * max|code| <= 32767.
//   q4_0, q4_1, q4_K: |code| <= 8:   2*8*255*8  = 32640, depth 8.
//   q5_0, q5_1, q5_K: |code| <= 16:  2*4*255*16 = 32640, depth 4.
//   q8_0: |code| <= 128: one pair can reach 65280, depth 0 (exact products
//         only: VNNI, or the scalar kernel; 7-bit activations would make it
//         depth 1 but tripled the tiny-sd1 image error and ran no faster
//         than the f32 GEMM on AVX2).
struct PanelFormat {
  int qmax, depth;
  bool offset;  // w = d * code + o per block (q4_1, q5_1, q4_K, q5_K)
};

bool panel_format(DType t, PanelFormat* f) {
  switch (t) {
    case DType::Q8_0: *f = {127, 0, false}; return true;
    case DType::Q4_0: *f = {127, 8, false}; return true;
    case DType::Q5_0: *f = {127, 4, false}; return true;
    case DType::Q4_1: *f = {127, 8, true}; return true;
    case DType::Q5_1: *f = {127, 4, true}; return true;
    case DType::Q4_K: *f = {127, 8, true}; return true;
    case DType::Q5_K: *f = {127, 4, true}; return true;
    default: return false;
  }
}

// Where GEMM row r (item r / M, row r % M) of X and Y starts.
struct RowMap {
  const float* x;
  float* y;
  int64_t M, xs_m, xs_b, ys_m, ys_b;
  const float* xrow(int64_t r) const { return x + (r / M) * xs_b + (r % M) * xs_m; }
  float* yrow(int64_t r) const { return y + (r / M) * ys_b + (r % M) * ys_m; }
};

// Weight panels [ceil(N/8)][nb] and activation rows [M][nb] of the panel
// path; the offsets only for formats with them.
struct PanelOperands {
  Tensor storage;
  int64_t nb = 0, panels = 0;
  int8_t* wq = nullptr;   // [panels][nb][256]
  float* wd = nullptr;    // [panels][nb][8]
  int32_t* wc = nullptr;  // [panels][nb][8]
  float* wo = nullptr;    // [panels][nb][8] block offsets o (w = d * code + o)
  uint8_t* xu = nullptr;  // [M][nb * 32]
  float* xd = nullptr;    // [M][xd_stride]: nb scales d (then, with offsets, nb block sums d * sum(q))
  int64_t xd_stride = 0;
  PanelOperands(Compute& c, int64_t M, int64_t N, int64_t K, bool offset)
      : nb(K / 32), panels((N + 7) / 8), xd_stride(offset ? 2 * nb : nb) {
    const int64_t pb = panels * nb, wf = offset ? 88 : 80;  // weight floats per block
    storage = new_tensor(c, {pb * wf + M * (nb * 8 + xd_stride)});
    float* base = storage.data_as<float>();
    wq = reinterpret_cast<int8_t*>(base);
    wd = base + pb * 64;
    wc = reinterpret_cast<int32_t*>(wd + pb * 8);
    if (offset) wo = base + pb * 80;
    xu = reinterpret_cast<uint8_t*>(base + pb * wf);
    xd = base + pb * wf + M * nb * 8;
  }
  QPanel panel(int64_t p) const { return {wq + p * nb * 256, wd + p * nb * 8, wc + p * nb * 8, wo ? wo + p * nb * 8 : nullptr}; }
};

// Block b (32 values; a k-quant's sub-block b % 8 of super-block b / 8) of a
// panel-format weight row: signed codes and the offset o (w = d * code + o;
// o = 0 for the _0 formats), returns d.
float signed_codes(DType t, const uint8_t* row, int64_t b, int8_t* q, float* o) {
  *o = 0.f;
  switch (t) {
    case DType::Q8_0: {
      const uint8_t* p = row + b * 34;
      std::memcpy(q, p + 2, 32);
      return quant::rd_half(p);
    }
    case DType::Q4_0: {
      const uint8_t* p = row + b * 18;
      for (int i = 0; i < 16; ++i) {
        q[i] = static_cast<int8_t>((p[2 + i] & 0xF) - 8);
        q[i + 16] = static_cast<int8_t>((p[2 + i] >> 4) - 8);
      }
      return quant::rd_half(p);
    }
    case DType::Q5_0: {
      const uint8_t* p = row + b * 22;
      const uint32_t h = p[2] | (uint32_t(p[3]) << 8) | (uint32_t(p[4]) << 16) | (uint32_t(p[5]) << 24);
      for (int i = 0; i < 16; ++i) {
        q[i] = static_cast<int8_t>(((p[6 + i] & 0xF) | (((h >> i) & 1) << 4)) - 16);
        q[i + 16] = static_cast<int8_t>(((p[6 + i] >> 4) | (((h >> (i + 16)) & 1) << 4)) - 16);
      }
      return quant::rd_half(p);
    }
    case DType::Q4_1: {  // d, m, 16 nibble bytes; w = d * n + m = d * (n - 8) + (m + 8d)
      const uint8_t* p = row + b * 20;
      for (int i = 0; i < 16; ++i) {
        q[i] = static_cast<int8_t>((p[4 + i] & 0xF) - 8);
        q[i + 16] = static_cast<int8_t>((p[4 + i] >> 4) - 8);
      }
      const float d = quant::rd_half(p);
      *o = quant::rd_half(p + 2) + 8.f * d;
      return d;
    }
    case DType::Q5_1: {  // d, m, 32 high bits, 16 nibble bytes; w = d * (n - 16) + (m + 16d)
      const uint8_t* p = row + b * 24;
      const uint32_t h = p[4] | (uint32_t(p[5]) << 8) | (uint32_t(p[6]) << 16) | (uint32_t(p[7]) << 24);
      for (int i = 0; i < 16; ++i) {
        q[i] = static_cast<int8_t>(((p[8 + i] & 0xF) | (((h >> i) & 1) << 4)) - 16);
        q[i + 16] = static_cast<int8_t>(((p[8 + i] >> 4) | (((h >> (i + 16)) & 1) << 4)) - 16);
      }
      const float d = quant::rd_half(p);
      *o = quant::rd_half(p + 2) + 16.f * d;
      return d;
    }
    case DType::Q4_K:    // super-block: d, dmin, 12 scale bytes, 128 nibble bytes (sub-blocks 2i / 2i + 1: low / high nibbles of 32 bytes)
    case DType::Q5_K: {  // q4_K's fields with the 32 fifth-bit bytes (bit j of byte l: value l of sub-block j) before the nibbles
      const bool five = t == DType::Q5_K;
      const uint8_t* p = row + (b / 8) * (five ? 176 : 144);
      const int j = int(b % 8), bias = five ? 16 : 8;
      const uint8_t* qs = p + (five ? 48 : 16) + 32 * (j / 2);
      for (int l = 0; l < 32; ++l) {
        int n = (qs[l] >> (j % 2 ? 4 : 0)) & 0xF;
        if (five) n |= ((p[16 + l] >> j) & 1) << 4;
        q[l] = static_cast<int8_t>(n - bias);
      }
      float s, m;
      quant::k_sub_scale(p, j, quant::rd_half(p), quant::rd_half(p + 2), &s, &m);
      *o = float(bias) * s - m;  // both terms exact: one rounding, as every packer
      return s;
    }
    default: fail(ErrorCode::Internal, std::string("quant_gemm: no panel path for ") + dtype_name(t));
  }
}

// Columns n0..n0+7 of W [N, K] (rows past N are zero) -> one panel.
void pack_panel(DType t, const PanelFormat& f, const uint8_t* w, int64_t row_bytes, int64_t N, int64_t n0, int64_t nb, int8_t* q, float* d,
                int32_t* corr, float* off) {
  for (int c = 0; c < 8; ++c) {
    const int64_t n = n0 + c;
    for (int64_t b = 0; b < nb; ++b) {
      int8_t codes[32] = {};
      float o = 0.f;
      const float dd = n < N ? signed_codes(t, w + n * row_bytes, b, codes, &o) : 0.f;
      if (off) off[b * 8 + c] = o;
      int sum = 0;
      for (int e = 0; e < 32; ++e) sum += codes[e];
      for (int g = 0; g < 8; ++g) std::memcpy(q + b * 256 + g * 32 + c * 4, codes + 4 * g, 4);
      d[b * 8 + c] = dd;
      corr[b * 8 + c] = (f.qmax + 1) * sum;
    }
  }
}

// M counts the rows of all batch items (rmap addresses them).
void quant_gemm_panel(Compute& c, const PanelFormat& f, int64_t M, int64_t N, int64_t K, const RowMap& rmap, int64_t xs_k, const void* w,
                      DType wt, int64_t ys_n, const float* bias_n) {
  const QuantTable& t = quant_table();
  // The dot products: depth 0 needs exact products, offsets a table that takes them (else AVX2's).
  const QuantTable* avx2 = quant_avx2_table();
  const QuantTable& kt = f.depth == 0 && !t.any_depth ? quant_scalar_table()
                         : f.offset && !t.offsets     ? (avx2 ? *avx2 : quant_scalar_table())
                                                      : t;
  PanelOperands op(c, M, N, K, f.offset);
  const int64_t nb = op.nb;
  parallel_for(c.pool, M, 16, [&](int64_t r0, int64_t r1) {
    std::vector<float> row(xs_k == 1 ? 0 : size_t(K));  // strided rows are gathered first
    for (int64_t m = r0; m < r1; ++m) {
      const float* xr = rmap.xrow(m);
      if (xs_k != 1) {
        for (int64_t k = 0; k < K; ++k) row[size_t(k)] = xr[k * xs_k];
        xr = row.data();
      }
      float* xd = op.xd + m * op.xd_stride;
      t.quantize_act(xr, nb, f.qmax, op.xu + m * nb * 32, xd);
      for (int64_t b = 0; f.offset && b < nb; ++b) {
        const uint8_t* u = op.xu + (m * nb + b) * 32;
        int sum = -32 * (f.qmax + 1);  // u = q + qmax + 1
        for (int e = 0; e < 32; ++e) sum += u[e];
        xd[nb + b] = xd[b] * float(sum);
      }
    }
  });
  const int64_t row_bytes = dtype_bytes_for(wt, K);
  // 4- and 5-bit panels with the path's packer (an AVX-512 table without one: AVX2's); the scalar path and q8_0 pack generically.
  const QuantTable* packer = wt == DType::Q8_0 ? nullptr : t.pack_panel ? &t : &t != &quant_scalar_table() ? avx2 : nullptr;
  parallel_for(c.pool, op.panels, 4, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p)
      if (packer) {
        const uint8_t* cols[8];
        for (int64_t j = 0; j < 8; ++j) cols[j] = p * 8 + j < N ? static_cast<const uint8_t*>(w) + (p * 8 + j) * row_bytes : nullptr;
        packer->pack_panel(wt, cols, nb, op.wq + p * nb * 256, op.wd + p * nb * 8, op.wc + p * nb * 8,
                           f.offset ? op.wo + p * nb * 8 : nullptr);
      } else {
        pack_panel(wt, f, static_cast<const uint8_t*>(w), row_bytes, N, p * 8, nb, op.wq + p * nb * 256, op.wd + p * nb * 8,
                   op.wc + p * nb * 8, f.offset ? op.wo + p * nb * 8 : nullptr);
      }
  });

  const int64_t tiles_m = (M + kPanelMt - 1) / kPanelMt, tiles_n = (op.panels + kPanelNt - 1) / kPanelNt;
  parallel_for(c.pool, tiles_m * tiles_n, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t tile = t0; tile < t1; ++tile) {
      const int64_t m0 = (tile / tiles_n) * kPanelMt, m1 = std::min(M, m0 + kPanelMt);
      const int64_t p0 = (tile % tiles_n) * kPanelNt, p1 = std::min(op.panels, p0 + kPanelNt);
      float* yrows[kPanelMt];  // RowMap divides: once per tile row, not per 4x8 kernel call
      for (int64_t m = m0; m < m1; ++m) yrows[m - m0] = rmap.yrow(m);
      for (int64_t p = p0; p < p1; ++p) {
        const QPanel panel = op.panel(p);
        const int cols = int(std::min<int64_t>(8, N - p * 8));
        float bias8[8] = {};
        for (int cc = 0; cc < cols && bias_n; ++cc) bias8[cc] = bias_n[p * 8 + cc];
        for (int64_t m = m0; m < m1; m += 4) {
          const int rows = int(std::min<int64_t>(4, m1 - m));
          const uint8_t* xu[4];
          const float* xd[4];
          for (int r = 0; r < 4; ++r) {
            const int64_t mr = m + std::min(r, rows - 1);
            xu[r] = op.xu + mr * nb * 32;
            xd[r] = op.xd + mr * op.xd_stride;
          }
          float out[32];
          kt.panel_4x8(nb, f.depth, xu, xd, panel, out);
          for (int r = 0; r < rows; ++r) {
            float* yr = yrows[m - m0 + r] + p * 8 * ys_n;
            if (ys_n == 1 && cols == 8) {
              for (int cc = 0; cc < 8; ++cc) yr[cc] = out[r * 8 + cc] + bias8[cc];  // vectorizes
            } else {
              for (int cc = 0; cc < cols; ++cc) yr[cc * ys_n] = out[r * 8 + cc] + bias8[cc];
            }
          }
        }
      }
    }
  });
}

}  // namespace

const QuantTable& quant_table() {
  switch (cpu_path()) {
    case CpuPath::Avx512:
      if (const QuantTable* t = quant_avx512_table()) return *t;
      [[fallthrough]];
    case CpuPath::Avx2:
      if (const QuantTable* t = quant_avxvnni_table()) return *t;
      if (const QuantTable* t = quant_avx2_table()) return *t;
      break;
    case CpuPath::Neon:
      if (const QuantTable* t = quant_neon_dotprod_table()) return *t;
      if (const QuantTable* t = quant_neon_table()) return *t;
      break;
    case CpuPath::Scalar: break;
  }
  return quant_scalar_table();
}

bool quant_gemm_takes(DType t) {
  PanelFormat f;
  return panel_format(t, &f);
}

bool quant_gemm_preferred(DType t, int64_t K) {
  PanelFormat f;
  // q8_0 (depth 0) only where a SIMD table multiplies exactly (VNNI, NEON); the scalar kernel is slower than dequantizing.
  const QuantTable& qt = quant_table();
  return panel_format(t, &f) && K % dtype_block_size(t) == 0 && (f.depth > 0 || (qt.any_depth && &qt != &quant_scalar_table()));
}

void quant_gemm(Compute& c, int64_t M1, int64_t N, int64_t K, const float* x, int64_t xs_m, int64_t xs_k, const void* w, DType wt, float* y,
                int64_t ys_m, int64_t ys_n, const float* bias_n, int64_t batch, int64_t xs_b, int64_t ys_b) {
  require(quant_gemm_takes(wt), "quant_gemm", std::string("weights of type ") + dtype_name(wt));
  require(K % dtype_block_size(wt) == 0, "quant_gemm", "K " + std::to_string(K) + " is not whole blocks");
  if (M1 <= 0 || N <= 0 || batch <= 0) return;
  const RowMap rmap{x, y, M1, xs_m, xs_b, ys_m, ys_b};
  PanelFormat pf;
  panel_format(wt, &pf);
  quant_gemm_panel(c, pf, batch * M1, N, K, rmap, xs_k, w, wt, ys_n, bias_n);  // M: the rows of all items
}

}  // namespace kern
}  // namespace sd
