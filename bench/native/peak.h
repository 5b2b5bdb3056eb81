// FMA peak measurement loops (bench only). Each returns the floating-point
// operations it performed (an FMA counts 2; a bf16 dot-product pair 4).
#pragma once
#include <cstdint>

namespace sdbench {

double fma_loop_avx2(int64_t iters);         // 0 when not built for x86
double fma_loop_avx512(int64_t iters);       // needs AVX-512F
double bf16_dot_loop_avx512(int64_t iters);  // needs AVX-512-BF16
double fma_loop_neon(int64_t iters);         // 0 when not built for arm64
// Integer multiply-add loops (an 8-bit product with its add counts 2 ops).
double int8_dot_loop_avx2(int64_t iters);     // vpmaddubsw + vpaddw (i16 sums)
double int8_dot_loop_avx512(int64_t iters);   // vpdpbusd, needs AVX-512 VNNI
double int8_dot_loop_avxvnni(int64_t iters);  // VEX vpdpbusd, needs AVX-VNNI (0 where not built)
double int8_dot_loop_neon(int64_t iters);     // sdot, needs the dot-product extension

struct Peak {
  double gflops;      // median over repeats, all threads, wall clock
  double gflops_cpu;  // per CPU-second this process used, x threads
  const char* what;   // "fp32 avx512", ...
};
// fp32 FMA peak with the widest vectors this CPU has, on `threads` threads.
Peak measure_fp32_peak(int threads);
// bf16 dot-product peak (vdpbf16ps); gflops 0 without AVX-512-BF16.
Peak measure_bf16_peak(int threads);
// 8-bit multiply-add peak of the integer GEMM's instructions (vpdpbusd with
// AVX-512 VNNI or AVX-VNNI, else vpmaddubsw + vpaddw; sdot on arm64), in
// GOP/s; 0 without.
Peak measure_int8_peak(int threads);

}  // namespace sdbench
