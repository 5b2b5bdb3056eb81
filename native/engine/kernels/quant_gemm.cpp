// Integer GEMM driver: quantize the activation rows, unpack the weight rows
// (both into the interleaved layout of quant_table.h), then output tiles of
// kMt activation rows x kNt weight rows in parallel, each a loop of 1x4 dot
// kernels (a weight row stays in L1 while the tile's activations stream
// from L2).
#include "kernels/quant_gemm.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "core/error.h"
#include "kernels/op_checks.h"
#include "kernels/quant_table.h"
#include "quant/block_codecs.h"
#include "tensor/cpu_features.h"
#include "tensor/thread_pool.h"

namespace sd {
namespace kern {
namespace {

constexpr int64_t kMt = 64, kNt = 16;

inline int64_t interleaved(int64_t lane, int64_t e) { return (e / 4) * 32 + lane * 4 + e % 4; }

// One operand's rows in the interleaved layout, carved out of one buffer.
struct QMatrix {
  Tensor storage;
  int64_t rows = 0, groups = 0;
  int8_t* q = nullptr;  // [rows][groups * 256]
  float* d = nullptr;   // [rows][groups * 8]
  float* ms = nullptr;  // [rows][groups * 8]
  QMatrix(Compute& c, int64_t r, int64_t g) : rows(r), groups(g) {
    const int64_t qfloats = r * g * 64;  // 256 bytes per group
    storage = new_tensor(c, {qfloats + 2 * r * g * 8});
    q = reinterpret_cast<int8_t*>(storage.data_as<float>());
    d = storage.data_as<float>() + qfloats;
    ms = d + r * g * 8;
  }
  QRow row(int64_t i) const { return {q + i * groups * 256, d + i * groups * 8, ms + i * groups * 8}; }
};

// Activation row (K values, stride sk) -> int8 codes in [-127, 127] per 32.
void quantize_act_row(const float* x, int64_t sk, int64_t K, int64_t groups, int8_t* q, float* d, float* s) {
  for (int64_t b = 0; b < groups * 8; ++b) {
    float v[32];
    float amax = 0.f;
    for (int e = 0; e < 32; ++e) {
      const int64_t k = b * 32 + e;
      v[e] = k < K ? x[k * sk] : 0.f;
      amax = std::max(amax, std::fabs(v[e]));
    }
    const float dd = amax / 127.f, id = dd != 0.f ? 1.f / dd : 0.f;
    int sum = 0;
    int8_t* qg = q + (b / 8) * 256;
    for (int e = 0; e < 32; ++e) {
      const int qi = quant::clampi(quant::nearest(v[e] * id), -127, 127);
      qg[interleaved(b % 8, e)] = static_cast<int8_t>(qi);
      sum += qi;
    }
    d[b] = dd;
    s[b] = dd * float(sum);
  }
}

// Block b (32 values) of a weight row: codes, scale and offset (w = d*q + m).
void weight_block(DType t, const uint8_t* row, int64_t b, int* q, float* d, float* m) {
  using quant::rd_half;
  auto nibbles = [&](const uint8_t* p) {
    for (int i = 0; i < 16; ++i) {
      q[i] = p[i] & 0xF;
      q[i + 16] = p[i] >> 4;
    }
  };
  auto high_bits = [&](const uint8_t* p) {
    const uint32_t h = p[0] | (uint32_t(p[1]) << 8) | (uint32_t(p[2]) << 16) | (uint32_t(p[3]) << 24);
    for (int i = 0; i < 32; ++i) q[i] |= int((h >> i) & 1) << 4;
  };
  switch (t) {
    case DType::Q8_0: {
      const uint8_t* p = row + b * 34;
      for (int i = 0; i < 32; ++i) q[i] = static_cast<int8_t>(p[2 + i]);
      *d = rd_half(p);
      *m = 0.f;
      return;
    }
    case DType::Q4_0: {
      const uint8_t* p = row + b * 18;
      nibbles(p + 2);
      *d = rd_half(p);
      *m = -8.f * *d;
      return;
    }
    case DType::Q4_1: {
      const uint8_t* p = row + b * 20;
      nibbles(p + 4);
      *d = rd_half(p);
      *m = rd_half(p + 2);
      return;
    }
    case DType::Q5_0: {
      const uint8_t* p = row + b * 22;
      nibbles(p + 6);
      high_bits(p + 2);
      *d = rd_half(p);
      *m = -16.f * *d;
      return;
    }
    case DType::Q5_1: {
      const uint8_t* p = row + b * 24;
      nibbles(p + 8);
      high_bits(p + 4);
      *d = rd_half(p);
      *m = rd_half(p + 2);
      return;
    }
    case DType::Q4_K:
    case DType::Q5_K: {
      const bool five = t == DType::Q5_K;
      const uint8_t* p = row + (b / 8) * (five ? 176 : 144);
      const int j = int(b % 8);
      const uint8_t* qs = p + (five ? 48 : 16) + 32 * (j / 2);
      for (int l = 0; l < 32; ++l) {
        q[l] = (qs[l] >> (j % 2 ? 4 : 0)) & 0xF;
        if (five) q[l] |= ((p[16 + l] >> j) & 1) << 4;
      }
      int sc, mn;
      quant::k_scale_min(p + 4, j, &sc, &mn);
      *d = rd_half(p) * float(sc);
      *m = -rd_half(p + 2) * float(mn);
      return;
    }
    default: fail(ErrorCode::Internal, std::string("quant_gemm: no integer path for ") + dtype_name(t));
  }
}

void unpack_weight_row(DType t, const uint8_t* row, int64_t K, int64_t groups, int8_t* q, float* d, float* m) {
  const int64_t blocks = K / 32;
  for (int64_t b = 0; b < groups * 8; ++b) {
    int codes[32] = {};
    float dd = 0.f, mm = 0.f;
    if (b < blocks) weight_block(t, row, b, codes, &dd, &mm);
    int8_t* qg = q + (b / 8) * 256;
    for (int e = 0; e < 32; ++e) qg[interleaved(b % 8, e)] = static_cast<int8_t>(codes[e]);
    d[b] = dd;
    m[b] = mm;
  }
}

}  // namespace

const QuantTable& quant_table() {
  switch (cpu_path()) {
    case CpuPath::Avx512:
      if (const QuantTable* t = quant_avx512_table()) return *t;
      [[fallthrough]];
    case CpuPath::Avx2:
      if (const QuantTable* t = quant_avx2_table()) return *t;
      [[fallthrough]];
    case CpuPath::Scalar: break;
  }
  return quant_scalar_table();
}

bool quant_gemm_takes(DType t) {
  switch (t) {
    case DType::Q8_0:
    case DType::Q4_0:
    case DType::Q4_1:
    case DType::Q5_0:
    case DType::Q5_1:
    case DType::Q4_K:
    case DType::Q5_K: return true;
    default: return false;
  }
}

bool quant_gemm_preferred(DType t, int64_t K) {
  if (!quant_gemm_takes(t) || K % 256 != 0) return false;
  return t != DType::Q8_0 || &quant_table() == quant_avx512_table();
}

void quant_gemm(Compute& c, int64_t M, int64_t N, int64_t K, const float* x, int64_t xs_m, int64_t xs_k, const void* w, DType wt, float* y,
                int64_t ys_m, int64_t ys_n, const float* bias_n) {
  require(quant_gemm_takes(wt), "quant_gemm", std::string("weights of type ") + dtype_name(wt));
  require(K % dtype_block_size(wt) == 0, "quant_gemm", "K " + std::to_string(K) + " is not whole blocks");
  if (M <= 0 || N <= 0) return;
  const int64_t groups = (K + 255) / 256;
  const int64_t row_bytes = dtype_bytes_for(wt, K);
  const QuantTable& t = quant_table();
  const bool signed_w = wt == DType::Q8_0;
  const bool has_min = !signed_w;

  QMatrix xa(c, M, groups);  // activations [M, K]
  parallel_for(c.pool, M, 16, [&](int64_t r0, int64_t r1) {
    for (int64_t m = r0; m < r1; ++m) {
      QRow r = xa.row(m);
      quantize_act_row(x + m * xs_m, xs_k, K, groups, const_cast<int8_t*>(r.q), const_cast<float*>(r.d), const_cast<float*>(r.ms));
    }
  });
  QMatrix wa(c, N, groups);  // weights [N, K]
  parallel_for(c.pool, N, 16, [&](int64_t r0, int64_t r1) {
    for (int64_t n = r0; n < r1; ++n) {
      QRow r = wa.row(n);
      unpack_weight_row(wt, static_cast<const uint8_t*>(w) + n * row_bytes, K, groups, const_cast<int8_t*>(r.q), const_cast<float*>(r.d),
                        const_cast<float*>(r.ms));
    }
  });

  const int64_t tiles_m = (M + kMt - 1) / kMt, tiles_n = (N + kNt - 1) / kNt;
  parallel_for(c.pool, tiles_m * tiles_n, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t tile = t0; tile < t1; ++tile) {
      const int64_t m0 = (tile / tiles_n) * kMt, m1 = std::min(M, m0 + kMt);
      const int64_t n0 = (tile % tiles_n) * kNt, n1 = std::min(N, n0 + kNt);
      for (int64_t n = n0; n < n1; ++n) {
        const QRow wr = wa.row(n);
        const float bias = bias_n ? bias_n[n] : 0.f;
        for (int64_t m = m0; m < m1; m += 4) {
          const int rows = int(std::min<int64_t>(4, m1 - m));
          QRow xr[4];
          for (int j = 0; j < 4; ++j) xr[j] = xa.row(m + std::min(j, rows - 1));
          float out[4];
          t.dot_1x4(groups, wr, signed_w, has_min, xr, out);
          for (int j = 0; j < rows; ++j) y[(m + j) * ys_m + n * ys_n] = out[j] + bias;
        }
      }
    }
  });
}

}  // namespace kern
}  // namespace sd
