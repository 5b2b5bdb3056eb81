// Measures the CPU's arithmetic peak on all threads: fp32 FMA with the
// widest vectors available, the bf16 dot-product (vdpbf16ps) peak where
// AVX-512-BF16 exists, and the 8-bit integer multiply-add peak the quantized
// kernels run on. Prints a table and one JSON line per figure.
#include <cstdio>
#include <cstdlib>

#include "peak.h"
#include "tensor/cpu_features.h"

int main(int argc, char** argv) {
  int threads = argc > 1 ? std::atoi(argv[1]) : sd::physical_cores();
  if (threads <= 0) threads = sd::physical_cores();
  sdbench::Peak fp32 = sdbench::measure_fp32_peak(threads);
  sdbench::Peak bf16 = sdbench::measure_bf16_peak(threads);
  sdbench::Peak int8 = sdbench::measure_int8_peak(threads);
  // Wall-clock GFLOP/s, and GFLOP/s per CPU-second x threads (what the cores
  // deliver when this process has them; differs on a shared machine).
  std::printf("%-24s %8s %12s %14s\n", "peak", "threads", "GFLOP/s", "GF/cpu-s*T");
  // int8: GOP/s (a multiply-add counts 2), the quantized kernels' ceiling.
  const sdbench::Peak peaks[3] = {fp32, bf16, int8};
  const char* kinds[3] = {"fp32", "bf16", "int8"};
  for (const sdbench::Peak& p : peaks) std::printf("%-24s %8d %12.1f %14.1f\n", p.what, threads, p.gflops, p.gflops_cpu);
  for (int i = 0; i < 3; ++i)
    std::printf("{\"bench\":\"peak\",\"kind\":\"%s\",\"what\":\"%s\",\"threads\":%d,\"gflops\":%.2f,\"gflops_cpu\":%.2f}\n", kinds[i],
                peaks[i].what, threads, peaks[i].gflops, peaks[i].gflops_cpu);
  return 0;
}
