#include <algorithm>
#include <atomic>
#include <chrono>
#include <vector>

#include "peak.h"
#include "tensor/cpu_features.h"
#include "tensor/thread_pool.h"

namespace sdbench {
namespace {

// Runs loop(iters) on every thread at once and returns the median GFLOP/s
// over `repeats` regions of ~0.3 s.
double run_all_threads(int threads, double (*loop)(int64_t)) {
  sd::ThreadPool pool(threads);
  int64_t iters = 1 << 16;
  // Calibrate one thread to ~0.3 s.
  for (;;) {
    auto t0 = std::chrono::steady_clock::now();
    loop(iters);
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (s > 0.1) {
      iters = int64_t(double(iters) * 0.3 / s);
      break;
    }
    iters *= 4;
  }
  std::vector<double> rates;
  for (int rep = 0; rep < 5; ++rep) {
    std::atomic<double> flops{0};
    auto t0 = std::chrono::steady_clock::now();
    pool.run(pool.size(), [&](int64_t) {
      double f = loop(iters);
      double cur = flops.load();
      while (!flops.compare_exchange_weak(cur, cur + f)) {
      }
    });
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    rates.push_back(flops.load() / s * 1e-9);
  }
  std::sort(rates.begin(), rates.end());
  return rates[rates.size() / 2];
}

}  // namespace

Peak measure_fp32_peak(int threads) {
  if (sd::cpu_path_supported(sd::CpuPath::Avx512)) return {run_all_threads(threads, fma_loop_avx512), "fp32 avx512"};
  if (sd::cpu_path_supported(sd::CpuPath::Avx2)) return {run_all_threads(threads, fma_loop_avx2), "fp32 avx2"};
  return {0, "fp32 (no FMA unit path)"};
}

Peak measure_bf16_peak(int threads) {
  if (sd::cpu_path_supported(sd::CpuPath::Avx512) && sd::cpu_features().avx512bf16)
    return {run_all_threads(threads, bf16_dot_loop_avx512), "bf16 vdpbf16ps"};
  return {0, "bf16 (no AVX-512-BF16)"};
}

}  // namespace sdbench
