// Times ops::linear on SD 1.5 U-Net matmul shapes with CFG (batch 2) at
// 512x512 (64x64 latents: 8192 tokens at the first level) and 256x256,
// f16 weights (the f32 GEMM, converted in packing) against q8_0 / q4_0 /
// q4_1 / q4_K weights (the integer GEMM where quant_gemm_preferred() routes them);
// then ops::conv2d on the U-Net's 3x3 convs (batch 2) with f16, q8_0 and
// q4_0 weights (Winograd decoding blocks) and, for comparison, q4_0 the way
// it ran before (a whole f32 copy per call, then Winograd on it).
// Per shape and format: best-of-N wall ms and best-of-N process CPU ms (the
// machine is shared, so speed-ups are taken on CPU time), GFLOP per CPU
// second (convs: direct-convolution FLOPs). Prints tables and JSON lines.
// Not a test. Usage: bench_quant [threads] [reps] [linear|conv]
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "kernels/ops.h"
#include "kernels/quant_ops.h"
#include "kernels/quant_table.h"
#include "quant/blocks.h"
#include "tensor/arena.h"
#include "tensor/cpu_features.h"
#include "tensor/thread_pool.h"

namespace {

using sd::DType;
using sd::Tensor;

Tensor weights(int64_t n, int64_t k, DType t) {
  std::vector<float> f(size_t(n * k));
  uint32_t s = 777;
  for (auto& v : f) {
    s = s * 1664525u + 1013904223u;
    v = (float((s >> 8) & 0xFFFF) / 32768.f - 1.f) * 0.05f;
  }
  Tensor w = Tensor::empty(t, {n, k});
  const int64_t row = sd::dtype_bytes_for(t, k);
  std::vector<float> scratch(static_cast<size_t>(k));
  for (int64_t r = 0; r < n; ++r)
    sd::quant::convert_row(DType::F32, f.data() + r * k, t, k, static_cast<uint8_t*>(w.data()) + r * row, scratch.data());
  return w;
}

double cpu_ms() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return double(ts.tv_sec) * 1e3 + double(ts.tv_nsec) * 1e-6;
}

struct Timing {
  double wall = 0, cpu = 0;  // best of the reps, ms; 0: format cannot hold rows of K
};

// Best of `reps` runs after one warm-up (arena blocks, caches).
template <typename F>
Timing time_best(int reps, F&& run) {
  Timing tm{1e30, 1e30};
  for (int r = 0; r < reps + 1; ++r) {
    const double c0 = cpu_ms();
    const auto t0 = std::chrono::steady_clock::now();
    run();
    const double wall = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    const double cpu = cpu_ms() - c0;
    if (r > 0) tm.wall = std::min(tm.wall, wall), tm.cpu = std::min(tm.cpu, cpu);
  }
  return tm;
}

// One table row: label, per-column timings, speed-ups vs column 0, GFLOP per CPU second; appends its JSON object.
void report(const char* label, const char* const* names, const Timing* tm, int n, double gflop, std::string* json) {
  std::printf("%-40s", label);
  for (int t = 0; t < n; ++t) std::printf(" %7.1f/%7.1f", tm[t].wall, tm[t].cpu);
  std::printf(" ");
  for (int t = 1; t < n; ++t)
    if (tm[t].cpu > 0) std::printf(" %s %.2fx", names[t], tm[0].cpu / tm[t].cpu);
  std::printf("  GFLOP/CPU-s:");
  for (int t = 0; t < n; ++t)
    if (tm[t].cpu > 0) std::printf(" %.1f", gflop / (tm[t].cpu * 1e-3));
  std::printf("\n");
  *json += std::string(json->back() == '[' ? "" : ",") + "{\"shape\":\"" + label + "\"";
  for (int t = 0; t < n; ++t) {
    char f[96];
    std::snprintf(f, sizeof f, ",\"%s_ms\":%.2f,\"%s_cpu_ms\":%.2f", names[t], tm[t].wall, names[t], tm[t].cpu);
    *json += f;
  }
  *json += "}";
}

}  // namespace

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 2;
  const int reps = argc > 2 ? std::atoi(argv[2]) : 3;
  const std::string only = argc > 3 ? argv[3] : "";
  sd::ThreadPool pool(threads);
  sd::Arena arena;
  sd::Compute c{&pool, &arena};
  std::printf(
      "path %s (integer kernels %s), %d threads, best of %d; ms wall / ms CPU; speed-up vs f16 and GFLOP per CPU second on CPU time\n",
      sd::cpu_path_name(sd::cpu_path()), sd::kern::quant_table().name, threads, reps);
  if (only.empty() || only == "linear") {
    struct Shape {
      const char* what;
      int64_t M, N, K;
    };
    const Shape shapes[] = {{"512: attn q/k/v/out, proj 1x1 (lvl 0)", 8192, 320, 320},
                            {"512: ff geglu in (lvl 0)", 8192, 2560, 320},
                            {"512: ff out (lvl 0)", 8192, 320, 1280},
                            {"512: attn (lvl 2)", 512, 1280, 1280},
                            {"256: attn q/k/v/out (lvl 0)", 2048, 320, 320},
                            {"256: ff geglu in (lvl 1)", 512, 5120, 640},
                            {"256: ff out (lvl 1)", 512, 640, 2560},
                            {"256: attn (lvl 2)", 128, 1280, 1280},
                            {"256: ff out (mid, 4x4)", 32, 1280, 5120}};
    const DType types[] = {DType::F16, DType::Q8_0, DType::Q4_0, DType::Q4_1, DType::Q4_K};
    const char* names[] = {"f16", "q8_0", "q4_0", "q4_1", "q4_K"};
    constexpr int kTypes = 5;
    std::printf("%-40s %15s %15s %15s %15s %15s  %s\n", "linear M x N x K", "f16", "q8_0", "q4_0", "q4_1", "q4_K", "speed-up (CPU)");
    std::string json = "{\"bench\":\"quant_linear\",\"threads\":" + std::to_string(threads) + ",\"rows\":[";
    for (const Shape& s : shapes) {
      Tensor x = Tensor::empty(DType::F32, {s.M, s.K});
      for (int64_t i = 0; i < x.numel(); ++i) x.data_as<float>()[i] = float((i * 7919) % 2001) / 1000.f - 1.f;
      Timing tm[kTypes];
      for (int t = 0; t < kTypes; ++t) {
        if (s.K % sd::dtype_block_size(types[t])) continue;
        Tensor w = weights(s.N, s.K, types[t]);
        tm[t] = time_best(reps, [&] { sd::ops::linear(c, x, w, nullptr); });
      }
      char label[80];
      std::snprintf(label, sizeof label, "%s %lldx%lldx%lld", s.what, (long long)s.M, (long long)s.N, (long long)s.K);
      report(label, names, tm, kTypes, 2e-9 * double(s.M) * double(s.N) * double(s.K), &json);
    }
    std::printf("%s]}\n", json.c_str());
  }
  if (only.empty() || only == "conv") {
    struct Shape {
      const char* what;
      int64_t C, HW;
    };
    const Shape shapes[] = {{"512: lvl 0", 320, 64}, {"512: lvl 1", 640, 32}, {"512: lvl 2", 1280, 16}, {"512: lvl 3", 1280, 8},
                            {"256: lvl 0", 320, 32}, {"256: lvl 1", 640, 16}, {"256: lvl 2", 1280, 8},  {"256: lvl 3", 1280, 4}};
    const char* names[] = {"f16", "q8_0", "q4_0", "q4_0-f32copy"};
    std::printf("%-40s %15s %15s %15s %15s  %s\n", "conv3x3 2 x C->C @HW", "f16", "q8_0", "q4_0", "q4_0 f32 copy", "speed-up (CPU)");
    std::string json = "{\"bench\":\"quant_conv3x3\",\"threads\":" + std::to_string(threads) + ",\"rows\":[";
    for (const Shape& s : shapes) {
      Tensor x = Tensor::empty(DType::F32, {2, s.C, s.HW, s.HW});  // CFG batch
      for (int64_t i = 0; i < x.numel(); ++i) x.data_as<float>()[i] = float((i * 7919) % 2001) / 1000.f - 1.f;
      Timing tm[4];
      const DType types[] = {DType::F16, DType::Q8_0, DType::Q4_0};
      for (int t = 0; t < 3; ++t) {
        Tensor w = weights(s.C, s.C * 9, types[t]).reshape({s.C, s.C, 3, 3});
        tm[t] = time_best(reps, [&] { sd::ops::conv2d(c, x, w, nullptr, 1, 1); });
      }
      Tensor w = weights(s.C, s.C * 9, DType::Q4_0).reshape({s.C, s.C, 3, 3});
      tm[3] = time_best(reps, [&] { sd::ops::conv2d(c, x, sd::kern::dequantize_weight(c, w), nullptr, 1, 1); });
      char label[80];
      std::snprintf(label, sizeof label, "%s 2 x %lld->%lld @%lld", s.what, (long long)s.C, (long long)s.C, (long long)s.HW);
      report(label, names, tm, 4, 2e-9 * 2 * double(s.C) * double(s.C) * 9 * double(s.HW) * double(s.HW), &json);
    }
    std::printf("%s]}\n", json.c_str());
  }
  return 0;
}
