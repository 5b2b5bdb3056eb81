#include "peak.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <ctime>
#include <utility>
#include <vector>

#include "tensor/cpu_features.h"
#include "tensor/thread_pool.h"

namespace sdbench {
namespace {

double cpu_seconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

// Runs loop(iters) on every thread at once; median GFLOP/s (wall, and per
// CPU-second x threads) over 5 regions of ~0.3 s.
std::pair<double, double> run_all_threads(int threads, double (*loop)(int64_t)) {
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
  std::vector<double> rates, cpu_rates;
  for (int rep = 0; rep < 5; ++rep) {
    std::atomic<double> flops{0};
    const double c0 = cpu_seconds();
    auto t0 = std::chrono::steady_clock::now();
    pool.run(pool.size(), [&](int64_t) {
      double f = loop(iters);
      double cur = flops.load();
      while (!flops.compare_exchange_weak(cur, cur + f)) {
      }
    });
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    rates.push_back(flops.load() / s * 1e-9);
    cpu_rates.push_back(flops.load() / (cpu_seconds() - c0) * pool.size() * 1e-9);
  }
  std::sort(rates.begin(), rates.end());
  std::sort(cpu_rates.begin(), cpu_rates.end());
  return {rates[rates.size() / 2], cpu_rates[cpu_rates.size() / 2]};
}

}  // namespace

Peak measure_fp32_peak(int threads) {
  if (sd::cpu_path_supported(sd::CpuPath::Avx512)) {
    auto r = run_all_threads(threads, fma_loop_avx512);
    return {r.first, r.second, "fp32 avx512"};
  }
  if (sd::cpu_path_supported(sd::CpuPath::Avx2)) {
    auto r = run_all_threads(threads, fma_loop_avx2);
    return {r.first, r.second, "fp32 avx2"};
  }
  if (sd::cpu_path_supported(sd::CpuPath::Neon)) {
    auto r = run_all_threads(threads, fma_loop_neon);
    return {r.first, r.second, "fp32 neon"};
  }
  return {0, 0, "fp32 (no FMA unit path)"};
}

Peak measure_bf16_peak(int threads) {
  if (sd::cpu_path_supported(sd::CpuPath::Avx512) && sd::cpu_features().avx512bf16) {
    auto r = run_all_threads(threads, bf16_dot_loop_avx512);
    return {r.first, r.second, "bf16 vdpbf16ps"};
  }
  return {0, 0, "bf16 (no AVX-512-BF16)"};
}

Peak measure_int8_peak(int threads) {
  if (sd::cpu_path_supported(sd::CpuPath::Avx512) && sd::cpu_features().avx512vnni) {
    auto r = run_all_threads(threads, int8_dot_loop_avx512);
    return {r.first, r.second, "int8 vpdpbusd"};
  }
  if (sd::cpu_path_supported(sd::CpuPath::Avx2) && sd::cpu_features().avxvnni && int8_dot_loop_avxvnni(1) > 0) {
    auto r = run_all_threads(threads, int8_dot_loop_avxvnni);
    return {r.first, r.second, "int8 vpdpbusd (AVX-VNNI)"};
  }
  if (sd::cpu_path_supported(sd::CpuPath::Avx2)) {
    auto r = run_all_threads(threads, int8_dot_loop_avx2);
    return {r.first, r.second, "int8 vpmaddubsw+vpaddw"};
  }
  if (sd::cpu_path_supported(sd::CpuPath::Neon) && sd::cpu_features().neon_dotprod) {
    auto r = run_all_threads(threads, int8_dot_loop_neon);
    return {r.first, r.second, "int8 sdot"};
  }
  return {0, 0, "int8 (no SIMD path)"};
}

}  // namespace sdbench
