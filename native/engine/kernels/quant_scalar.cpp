// Portable reference of the integer dot product (quant_table.h contract).
#include <cmath>

#include "kernels/quant_table.h"

namespace sd {
namespace kern {
namespace {

void dot_1x4(int64_t groups, const QRow& w, bool signed_w, bool has_min, const QRow* x, float* out) {
  for (int j = 0; j < 4; ++j) {
    float acc[8] = {};
    for (int64_t g = 0; g < groups; ++g) {
      const int8_t* wq = w.q + g * 256;
      const int8_t* xq = x[j].q + g * 256;
      for (int lane = 0; lane < 8; ++lane) {
        int32_t isum = 0;
        for (int t = 0; t < 8; ++t) {
          for (int k = 0; k < 4; ++k) {
            const int i = t * 32 + lane * 4 + k;
            const int wv = signed_w ? int(wq[i]) : int(uint8_t(wq[i]));
            isum += wv * int(xq[i]);
          }
        }
        const int64_t b = g * 8 + lane;
        acc[lane] = std::fma(float(isum), w.d[b] * x[j].d[b], acc[lane]);
        if (has_min) acc[lane] = std::fma(w.ms[b], x[j].ms[b], acc[lane]);
      }
    }
    out[j] = ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
  }
}

}  // namespace

const QuantTable& quant_scalar_table() {
  static const QuantTable t{"scalar", dot_1x4};
  return t;
}

}  // namespace kern
}  // namespace sd
