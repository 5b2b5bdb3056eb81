// Times the kernels on the shapes SD 1.5 runs at 512x512 (batch 1; the two
// deepest conv levels also at the CFG batch of 2; cross-attention at every
// level and at SD 2.x's head size) and reports GFLOP/s and the fraction of
// the fp32 FMA peak measured on this machine (bench_peak's loop).
// Convolutions count direct-convolution FLOPs
// (2*Cout*Cin*9*H*W), so a Winograd kernel can exceed 100%. Also reports the
// thread pool's dispatch overhead. On a shared machine wall time includes
// time other processes took the cores, so each row also reports GFLOP/s per
// CPU-second used by this process (x threads), against the peak measured
// the same way. Where the path has the AVX-512 BF16 GEMM, "linear bf16
// (fast)" rows time precision "fast" against the bf16 dot-product peak.
// Usage: bench_kernels [threads] [--quick] [--only SUBSTRING]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <functional>
#include <string>
#include <vector>

#include "kernels/gemm_bf16.h"
#include "kernels/ops.h"
#include "peak.h"
#include "tensor/arena.h"
#include "tensor/cpu_features.h"
#include "tensor/thread_pool.h"

#ifdef SD_BENCH_CBLAS
#include <cblas.h>
#endif

namespace {

using sd::DType;
using sd::Tensor;

Tensor rand_tensor(const sd::Shape& s, DType d = DType::F32) {
  Tensor f = Tensor::empty(DType::F32, s);
  uint32_t st = 12345;
  float* p = f.data_as<float>();
  for (int64_t i = 0; i < f.numel(); ++i) {
    st = st * 1664525u + 1013904223u;
    p[i] = (float((st >> 8) & 0xFFFF) / 32768.f - 1.f) * 0.1f;
  }
  if (d == DType::F32) return f;
  Tensor o = Tensor::empty(d, s);
  for (int64_t i = 0; i < f.numel(); ++i) o.data_as<uint16_t>()[i] = d == DType::F16 ? sd::f32_to_f16(p[i]) : sd::f32_to_bf16(p[i]);
  return o;
}

double cpu_seconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

struct Timing {
  double wall, cpu;  // medians, seconds
};

// Median wall and CPU seconds of fn over repeats (after one warm-up), at
// least `min_reps` and about `budget` seconds.
Timing time_median(const std::function<void()>& fn, int min_reps, double budget) {
  fn();
  std::vector<double> w, cp;
  double total = 0;
  while (int(w.size()) < min_reps || (total < budget && w.size() < 50)) {
    double c0 = cpu_seconds();
    auto t0 = std::chrono::steady_clock::now();
    fn();
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    cp.push_back(cpu_seconds() - c0);
    w.push_back(s);
    total += s;
  }
  std::sort(w.begin(), w.end());
  std::sort(cp.begin(), cp.end());
  return {w[w.size() / 2], cp[cp.size() / 2]};
}

struct Row {
  std::string kernel, shape;
  double flops;
  Timing t;
  bool bf16 = false;  // a bf16 GEMM: a fraction of the bf16 dot-product peak
};

}  // namespace

int main(int argc, char** argv) {
  int threads = sd::physical_cores();
  bool quick = false;
  std::string only;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0)
      quick = true;
    else if (std::strcmp(argv[i], "--only") == 0 && i + 1 < argc)
      only = argv[++i];
    else
      threads = std::max(1, std::atoi(argv[i]));
  }
  auto wanted = [&](const std::string& name) { return only.empty() || name.find(only) != std::string::npos; };
  const double budget = quick ? 0.2 : 1.0;
  const int reps = quick ? 1 : 3;
  sd::ThreadPool pool(threads);
  sd::Arena arena;  // reused blocks: no page faults in the timed region
  sd::Compute c;
  c.pool = &pool;
  c.arena = &arena;
  const sdbench::Peak peak = sdbench::measure_fp32_peak(threads);
  std::printf("path %s, %d threads, measured fp32 peak %.1f GFLOP/s wall, %.1f GFLOP/s per CPU-second x threads (%s)\n",
              sd::cpu_path_name(sd::cpu_path()), threads, peak.gflops, peak.gflops_cpu, peak.what);

  // bf16 rows (precision "fast") only where the path has the vdpbf16ps GEMM.
  const bool bf16 = sd::kern::gemm_bf16_available();
  const sdbench::Peak peak_bf16 = bf16 ? sdbench::measure_bf16_peak(threads) : sdbench::Peak{0, 0, ""};
  if (bf16) std::printf("measured bf16 peak %.1f GFLOP/s wall, %.1f per CPU-second x threads\n", peak_bf16.gflops, peak_bf16.gflops_cpu);
  std::vector<Row> rows;
  // batch > 1: the U-Net's CFG batch (conditional + unconditional image).
  auto conv = [&](int64_t C, int64_t HW, DType d, int64_t batch = 1) {
    if (!wanted("conv")) return;
    Tensor x = rand_tensor({batch, C, HW, HW}), w = rand_tensor({C, C, 3, 3}, d), b = rand_tensor({C});
    Timing s = time_median([&] { sd::ops::conv2d(c, x, w, &b, 1, 1); }, reps, budget);
    rows.push_back({std::string("conv3x3 ") + sd::dtype_name(d),
                    (batch > 1 ? std::to_string(batch) + "x " : std::string()) + std::to_string(C) + "->" + std::to_string(C) + " @" +
                        std::to_string(HW) + "x" + std::to_string(HW),
                    2.0 * batch * C * C * 9 * HW * HW, s});
  };
  conv(320, 64, DType::F16);
  conv(640, 32, DType::F16);
  conv(1280, 16, DType::F16);
  conv(1280, 8, DType::F16);
  conv(1280, 16, DType::F16, 2);
  conv(1280, 8, DType::F16, 2);
  conv(320, 64, DType::F32);
  auto lin = [&](int64_t M, int64_t K, int64_t N, DType d) {
    if (!wanted("linear")) return;
    Tensor x = rand_tensor({1, M, K}), w = rand_tensor({N, K}, d), b = rand_tensor({N});
    Timing s = time_median([&] { sd::ops::linear(c, x, w, &b); }, reps, budget);
    rows.push_back({std::string("linear ") + sd::dtype_name(d), std::to_string(M) + "x" + std::to_string(K) + "x" + std::to_string(N),
                    2.0 * M * N * K, s});
  };
  for (DType d : {DType::F32, DType::F16, DType::BF16}) {
    lin(4096, 320, 320, d);
    lin(4096, 320, 2560, d);
  }
  for (int64_t N : {320, 2560}) {
    if (!bf16 || !wanted("linear")) break;
    sd::Compute cf = c;
    cf.bf16 = true;
    Tensor x = rand_tensor({1, 4096, 320}), w = rand_tensor({N, 320}, DType::F16), b = rand_tensor({N});
    Timing s = time_median([&] { sd::ops::linear(cf, x, w, &b); }, reps, budget);
    rows.push_back({"linear bf16 (fast)", "4096x320x" + std::to_string(N), 2.0 * 4096 * N * 320, s, true});
  }
  auto att = [&](int64_t Nq, int64_t Nk, int H, int64_t D) {
    if (!wanted("attention")) return;
    Tensor q = rand_tensor({1, Nq, H * D}), k = rand_tensor({1, Nk, H * D}), v = rand_tensor({1, Nk, H * D});
    Timing s = time_median([&] { sd::ops::attention(c, q, k, v, H, false, 1.f / std::sqrt(float(D))); }, reps, budget);
    rows.push_back({"attention", std::to_string(H) + "h q" + std::to_string(Nq) + " k" + std::to_string(Nk) + " d" + std::to_string(D),
                    4.0 * H * Nq * Nk * D, s});
  };
  att(4096, 4096, 8, 40);
  att(4096, 77, 8, 40);
  att(1024, 77, 8, 80);  // SD 1.x cross-attention, levels 1 and 2
  att(256, 77, 8, 160);
  att(4096, 77, 5, 64);            // SD 2.x head size
  for (int64_t Nk : {4096, 77}) {  // precision "fast": the products on the bf16 kernel
    if (!bf16 || !wanted("attention")) break;
    sd::Compute cf = c;
    cf.bf16 = true;
    Tensor q = rand_tensor({1, 4096, 320}), k = rand_tensor({1, Nk, 320}), v = rand_tensor({1, Nk, 320});
    Timing s = time_median([&] { sd::ops::attention(cf, q, k, v, 8, false, 1.f / std::sqrt(40.f)); }, reps, budget);
    rows.push_back({"attention bf16 (fast)", "8h q4096 k" + std::to_string(Nk) + " d40", 4.0 * 8 * 4096 * Nk * 40, s, true});
  }
#ifdef SD_BENCH_CBLAS
  for (int64_t N : {320, 2560}) {
    Tensor x = rand_tensor({4096, 320}), w = rand_tensor({N, 320}), y = Tensor::empty(DType::F32, {4096, N});
    Timing s = time_median(
        [&] {
          cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, 4096, int(N), 320, 1.f, x.data_as<float>(), 320, w.data_as<float>(), 320,
                      0.f, y.data_as<float>(), int(N));
        },
        reps, budget);
    rows.push_back({"openblas sgemm", "4096x320x" + std::to_string(N), 2.0 * 4096 * N * 320, s});
  }
#endif

  std::printf("%-18s %-22s %10s %10s %8s %12s %8s\n", "kernel", "shape", "ms", "GFLOP/s", "of peak", "GF/cpu-s*T", "of peak");
  for (const Row& r : rows) {
    const sdbench::Peak& pk = r.bf16 ? peak_bf16 : peak;
    const double gf = r.flops / r.t.wall * 1e-9, gfc = r.flops / r.t.cpu * threads * 1e-9;
    std::printf("%-18s %-22s %10.2f %10.1f %7.0f%% %12.1f %7.0f%%\n", r.kernel.c_str(), r.shape.c_str(), r.t.wall * 1e3, gf,
                100 * gf / pk.gflops, gfc, 100 * gfc / pk.gflops_cpu);
  }
  // Dispatch overhead: an empty region with one task per thread.
  const int n = quick ? 2000 : 20000;
  std::vector<double> per;
  for (int rep = 0; rep < 5; ++rep) {
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < n; ++i) pool.run(pool.size(), [](int64_t) {});
    per.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / n);
  }
  std::sort(per.begin(), per.end());
  std::printf("%-18s %-22s %10.2f us per region\n", "pool dispatch", "empty region", per[2] * 1e6);
  for (const Row& r : rows) {
    const sdbench::Peak& pk = r.bf16 ? peak_bf16 : peak;
    const double gf = r.flops / r.t.wall * 1e-9, gfc = r.flops / r.t.cpu * threads * 1e-9;
    std::printf(
        "{\"bench\":\"kernels\",\"path\":\"%s\",\"threads\":%d,\"kernel\":\"%s\",\"shape\":\"%s\",\"ms\":%.3f,"
        "\"gflops\":%.2f,\"peak_gflops\":%.2f,\"fraction_of_peak\":%.4f,\"gflops_cpu\":%.2f,"
        "\"peak_gflops_cpu\":%.2f,\"fraction_of_peak_cpu\":%.4f}\n",
        sd::cpu_path_name(sd::cpu_path()), threads, r.kernel.c_str(), r.shape.c_str(), r.t.wall * 1e3, gf, pk.gflops, gf / pk.gflops, gfc,
        pk.gflops_cpu, gfc / pk.gflops_cpu);
  }
  std::printf("{\"bench\":\"kernels\",\"path\":\"%s\",\"threads\":%d,\"kernel\":\"pool dispatch\",\"us\":%.3f}\n",
              sd::cpu_path_name(sd::cpu_path()), threads, per[2] * 1e6);
  return 0;
}
