// Measures the CPU's floating-point peak on all threads: fp32 FMA with the
// widest vectors available, and the bf16 dot-product (vdpbf16ps) peak where
// AVX-512-BF16 exists. Prints a table and one JSON line per figure.
#include <cstdio>
#include <cstdlib>

#include "peak.h"
#include "tensor/cpu_features.h"

int main(int argc, char** argv) {
  int threads = argc > 1 ? std::atoi(argv[1]) : sd::physical_cores();
  if (threads <= 0) threads = sd::physical_cores();
  sdbench::Peak fp32 = sdbench::measure_fp32_peak(threads);
  sdbench::Peak bf16 = sdbench::measure_bf16_peak(threads);
  std::printf("%-24s %8s %12s\n", "peak", "threads", "GFLOP/s");
  std::printf("%-24s %8d %12.1f\n", fp32.what, threads, fp32.gflops);
  std::printf("%-24s %8d %12.1f\n", bf16.what, threads, bf16.gflops);
  std::printf("{\"bench\":\"peak\",\"kind\":\"fp32\",\"what\":\"%s\",\"threads\":%d,\"gflops\":%.2f}\n", fp32.what,
              threads, fp32.gflops);
  std::printf("{\"bench\":\"peak\",\"kind\":\"bf16\",\"what\":\"%s\",\"threads\":%d,\"gflops\":%.2f}\n", bf16.what,
              threads, bf16.gflops);
  return 0;
}
