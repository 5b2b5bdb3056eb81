// fma(a, b, c) for floats, correctly rounded, without the C library: the
// scalar integer-GEMM table is the bit-exact reference of the SIMD ones
// (hardware FMA), and not every C runtime's fmaf is fused (MinGW-w64's
// rounds the product first: a third of random cases differ).
// a * b is exact in double (24 + 24 bits); the double sum is rounded to odd
// (Boldo & Melquiond, "Emulation of FMA and correctly rounded sums", 2008),
// so its one rounding to float is the correctly rounded result.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

namespace sd {
namespace kern {

inline float exact_fma(float a, float b, float c) {
  const double p = double(a) * double(b), q = double(c), s = p + q;
  if (!std::isfinite(s)) return float(s);
  const double v = s - p, e = (p - (s - v)) + (q - v);  // TwoSum: s + e == p + q exactly
  if (e == 0) return float(s);
  uint64_t u;
  std::memcpy(&u, &s, 8);
  if ((u & 1) == 0) u = (e > 0) == (s > 0) ? u + 1 : u - 1;  // the odd neighbour on the exact value's side
  double odd;
  std::memcpy(&odd, &u, 8);
  return float(odd);
}

}  // namespace kern
}  // namespace sd
