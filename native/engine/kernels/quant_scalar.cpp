// Portable reference of the integer GEMM kernels (quant_table.h contracts).
#include <algorithm>
#include <cmath>

#include "kernels/exact_fma.h"
#include "kernels/quant_table.h"
#include "quant/blocks.h"

namespace sd {
namespace kern {
namespace {

void quantize_act(const float* x, int64_t nb, int qmax, uint8_t* u, float* d) {
  for (int64_t b = 0; b < nb; ++b) {
    const float* xb = x + b * 32;
    float amax = 0.f;
    for (int e = 0; e < 32; ++e) amax = std::max(amax, std::fabs(xb[e]));
    const float dd = amax / float(qmax), id = dd != 0.f ? 1.f / dd : 0.f;
    for (int e = 0; e < 32; ++e) {
      const int q = std::min(qmax, std::max(-qmax, int(std::lrintf(xb[e] * id))));
      u[b * 32 + e] = static_cast<uint8_t>(q + qmax + 1);
    }
    d[b] = dd;
  }
}

void panel_4x8(int64_t nb, int /*depth*/, const uint8_t* const* xu, const float* const* xd, const QPanel& w, float* out) {
  for (int r = 0; r < 4; ++r) {
    float acc[8] = {};
    for (int64_t b = 0; b < nb; ++b) {
      const uint8_t* xb = xu[r] + b * 32;
      const int8_t* wb = w.q + b * 256;
      for (int c = 0; c < 8; ++c) {
        int32_t isum = 0;
        for (int t = 0; t < 8; ++t)
          for (int k = 0; k < 4; ++k) isum += int(xb[4 * t + k]) * int(wb[t * 32 + c * 4 + k]);
        isum -= w.corr[b * 8 + c];
        acc[c] = exact_fma(float(isum), w.d[b * 8 + c] * xd[r][b], acc[c]);
        if (w.off) acc[c] = exact_fma(w.off[b * 8 + c], xd[r][nb + b], acc[c]);
      }
    }
    for (int c = 0; c < 8; ++c) out[r * 8 + c] = acc[c];
  }
}

void dequantize(DType t, const uint8_t* src, int64_t n, float* y) { quant::dequantize_row(t, src, n, y); }

}  // namespace

const QuantTable& quant_scalar_table() {
  static const QuantTable t{"scalar", quantize_act, panel_4x8, true, dequantize, true};
  return t;
}

}  // namespace kern
}  // namespace sd
