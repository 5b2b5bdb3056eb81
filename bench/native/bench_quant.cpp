// Times ops::linear on SD 1.5 U-Net matmul shapes at 512x512 with CFG
// (batch 2, 64x64 latents -> 8192 tokens at the first level), f16 weights
// (the f32 GEMM, converted in packing) against q8_0 / q4_0 / q4_K weights
// (the integer GEMM). Prints a table and one JSON line. Not a test.
// Usage: bench_quant [threads] [reps]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "kernels/ops.h"
#include "kernels/quant_ops.h"
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

}  // namespace

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 2;
  const int reps = argc > 2 ? std::atoi(argv[2]) : 3;
  sd::ThreadPool pool(threads);
  sd::Arena arena;
  sd::Compute c{&pool, &arena};
  struct Shape {
    const char* what;
    int64_t M, N, K;
  };
  const Shape shapes[] = {{"attn q/k/v/out, proj 1x1 (level 0)", 8192, 320, 320},
                          {"ff geglu in (level 0)", 8192, 2560, 320},
                          {"ff out (level 0)", 8192, 320, 1280},
                          {"attn (level 2)", 512, 1280, 1280}};
  const DType types[] = {DType::F16, DType::Q8_0, DType::Q4_0, DType::Q4_K};
  std::printf("path %s, %d threads, best of %d\n", sd::cpu_path_name(sd::cpu_path()), threads, reps);
  std::printf("%-38s %8s %8s %8s %8s   (ms; speed-up vs f16)\n", "shape M x N x K", "f16", "q8_0", "q4_0", "q4_K");
  std::string json = "{\"bench\":\"quant_linear\",\"threads\":" + std::to_string(threads) + ",\"rows\":[";
  for (const Shape& s : shapes) {
    Tensor x = Tensor::empty(DType::F32, {s.M, s.K});
    for (int64_t i = 0; i < x.numel(); ++i) x.data_as<float>()[i] = float((i * 7919) % 2001) / 1000.f - 1.f;
    double ms[4];
    for (int t = 0; t < 4; ++t) {
      ms[t] = 0;  // 0: the format cannot hold rows of K (k-quants need multiples of 256)
      if (s.K % sd::dtype_block_size(types[t])) continue;
      Tensor w = weights(s.N, s.K, types[t]);
      double best = 1e30;
      for (int r = 0; r < reps + 1; ++r) {  // first run warms the arena
        auto t0 = std::chrono::steady_clock::now();
        Tensor y = sd::ops::linear(c, x, w, nullptr);
        const double d = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
        if (r > 0) best = std::min(best, d);
      }
      ms[t] = best;
    }
    // The alternative route: dequantize the weight per call, then the f32 GEMM.
    Tensor wq = weights(s.N, s.K, DType::Q8_0);
    double deq = 1e30;
    for (int r = 0; r < reps + 1; ++r) {
      auto t0 = std::chrono::steady_clock::now();
      Tensor y = sd::ops::linear(c, x, sd::kern::dequantize_weight(c, wq), nullptr);
      const double d = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      if (r > 0) deq = std::min(deq, d);
    }
    std::printf("%-38s q8_0 dequantized + f32 GEMM %8.1f ms (%.2fx)\n", "", deq, ms[0] / deq);
    std::printf("%-38s %8.1f %8.1f %8.1f %8.1f   q8_0 %.2fx q4_0 %.2fx q4_K %.2fx\n", s.what, ms[0], ms[1], ms[2], ms[3], ms[0] / ms[1],
                ms[0] / ms[2], ms[3] > 0 ? ms[0] / ms[3] : 0.0);
    char row[256];
    std::snprintf(row, sizeof row,
                  "%s{\"M\":%lld,\"N\":%lld,\"K\":%lld,\"f16_ms\":%.2f,\"q8_0_ms\":%.2f,\"q4_0_ms\":%.2f,\"q4_K_ms\":%.2f}",
                  &s == shapes ? "" : ",", (long long)s.M, (long long)s.N, (long long)s.K, ms[0], ms[1], ms[2], ms[3]);
    json += row;
  }
  std::printf("%s]}\n", json.c_str());
  return 0;
}
