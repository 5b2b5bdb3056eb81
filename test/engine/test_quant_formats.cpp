// Block formats: every format round-trips Gaussian rows within its stated
// relative L2 bound (and the legacy formats within half a step per value);
// hand-packed blocks decode to the values the published layouts define;
// the converter-made GGUF fixtures decode to the safetensors weights within
// each format's bound (f16 exactly).
#define SD_TEST_MAIN
#include <cmath>
#include <cstring>
#include <vector>

#include "harness.h"
#include "io/gguf.h"
#include "io/safetensors.h"
#include "quant/blocks.h"

using namespace sd;

static const DType kFormats[] = {DType::Q8_0, DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q5_1,
                                 DType::Q2_K, DType::Q3_K, DType::Q4_K, DType::Q5_K, DType::Q6_K};

// Deterministic N(0, 1) values (Box-Muller over an LCG).
static std::vector<float> gaussian(int64_t n, uint64_t seed) {
  std::vector<float> v(static_cast<size_t>(n));
  uint64_t s = seed * 0x9E3779B97F4A7C15ull + 7;
  auto u = [&] {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    return (double((s >> 11) & ((1ull << 53) - 1)) + 0.5) / double(1ull << 53);
  };
  for (auto& x : v) x = static_cast<float>(std::sqrt(-2 * std::log(u())) * std::cos(6.283185307179586 * u()));
  return v;
}

static std::vector<float> round_trip(DType t, const std::vector<float>& x) {
  const int64_t n = static_cast<int64_t>(x.size());
  std::vector<uint8_t> q(static_cast<size_t>(dtype_bytes_for(t, n)));
  quant::quantize_row(t, x.data(), n, q.data());
  std::vector<float> y(x.size());
  quant::dequantize_row(t, q.data(), n, y.data());
  return y;
}

TEST(every_format_round_trips_within_its_bound) {
  for (DType t : kFormats) {
    double worst = 0;
    for (uint64_t seed = 1; seed <= 4; ++seed) {
      std::vector<float> x = gaussian(4096, seed);
      for (int64_t i = 0; i < 4096; ++i) x[i] *= 0.02f * float(1 + seed);  // weight-like magnitudes
      std::vector<float> y = round_trip(t, x);
      worst = std::max(worst, sdtest::rel_l2(y.data(), x.data(), x.size()));
    }
    std::printf("  %-5s rel L2 %.4f (bound %.3f)\n", dtype_name(t), worst, quant::rel_l2_bound(t));
    CHECK_MSG(worst <= quant::rel_l2_bound(t), "%s: %g", dtype_name(t), worst);
    CHECK_MSG(worst > 0, "%s: lossless round trip is suspicious", dtype_name(t));
  }
}

TEST(legacy_formats_err_by_at_most_one_step) {
  // Step per block: q8_0 amax/127 (error <= half a step); q4_0 / q5_0 amax/8
  // and amax/16 (the positive side stops one code short of amax, so up to a
  // full step); q4_1 / q5_1 (max-min)/15 and /31 (half a step).
  struct Case {
    DType t;
    float div, slack;
    bool offset;
  };
  const Case cases[] = {{DType::Q8_0, 127, 0.5f, false},
                        {DType::Q4_0, 8, 1.f, false},
                        {DType::Q5_0, 16, 1.f, false},
                        {DType::Q4_1, 15, 0.5f, true},
                        {DType::Q5_1, 31, 0.5f, true}};
  std::vector<float> x = gaussian(32 * 64, 9);
  for (const Case& c : cases) {
    std::vector<float> y = round_trip(c.t, x);
    bool ok = true;
    for (int64_t b = 0; b < 64 && ok; ++b) {
      float lo = x[b * 32], hi = x[b * 32], amax = 0;
      for (int i = 0; i < 32; ++i) {
        lo = std::min(lo, x[b * 32 + i]);
        hi = std::max(hi, x[b * 32 + i]);
        amax = std::max(amax, std::fabs(x[b * 32 + i]));
      }
      const float step = (c.offset ? hi - lo : amax) / c.div;
      // Half-precision d (and m) add up to ~1e-3 relative.
      const float bound = c.slack * step * 1.01f + 2e-3f * amax;
      for (int i = 0; i < 32 && ok; ++i) {
        const float e = std::fabs(y[b * 32 + i] - x[b * 32 + i]);
        ok = e <= bound;
        CHECK_MSG(ok, "%s block %lld value %d: error %g > %g", dtype_name(c.t), (long long)b, i, e, bound);
      }
    }
  }
}

TEST(zero_and_constant_blocks_decode_exactly) {
  for (DType t : kFormats) {
    std::vector<float> z(256, 0.f);
    std::vector<float> y = round_trip(t, z);
    bool all_zero = true;
    for (float v : y) all_zero = all_zero && v == 0.f;
    CHECK_MSG(all_zero, "%s: zeros do not survive", dtype_name(t));
  }
}

// Bit positions per the published layouts, checked on hand-packed blocks.
static float half_bytes(uint8_t* p, float v) {
  const uint16_t h = f32_to_f16(v);
  p[0] = uint8_t(h);
  p[1] = uint8_t(h >> 8);
  return f16_to_f32(h);
}

TEST(hand_packed_blocks_decode_per_the_published_layouts) {
  float y[256];
  {  // q5_0: value 17 = nibble 1 + high bit (bit 17 of qh) -> (17 - 16) * d
    uint8_t b[22] = {};
    half_bytes(b, 0.5f);
    b[2 + 2] = 0x02;  // qh bit 17
    b[6 + 1] = 0x10;  // byte 1 high nibble -> element 17
    quant::dequantize_row(DType::Q5_0, b, 32, y);
    CHECK(y[17] == 0.5f * (1 + 16 - 16) && y[0] == -8.f && y[1] == -8.f);
  }
  {  // q5_1: d=1, m=-2; element 3 = nibble 5 + high bit 3 -> 21 - 2
    uint8_t b[24] = {};
    half_bytes(b, 1.f);
    half_bytes(b + 2, -2.f);
    b[4] = 0x08;
    b[8 + 3] = 0x05;
    quant::dequantize_row(DType::Q5_1, b, 32, y);
    CHECK(y[3] == 19.f && y[4] == -2.f);
  }
  {  // q2_K: sub-block 5 (elements 80..95) scale 3 min 1; element 81 code 2 at byte 32+16*1+1, shift 2*((81%128)/32)=4
    uint8_t b[84] = {};
    b[5] = 0x13;
    b[16 + 32 * 0 + 16 + 1] = 2 << 4;
    half_bytes(b + 80, 0.5f);
    half_bytes(b + 82, 0.25f);
    quant::dequantize_row(DType::Q2_K, b, 256, y);
    CHECK(y[81] == 0.5f * 3 * 2 - 0.25f * 1);
    CHECK(y[80] == -0.25f);
  }
  {  // q3_K: scale 9 (elements 144..159) = 40 - 32 = 8: low nibble byte 1 high half, high bits byte 9 bits 4-5
    uint8_t b[110] = {};
    b[96 + 1] = 0x8 << 4;  // low 4 bits of 40 = 8
    b[96 + 9] = 0x2 << 4;  // high 2 bits of 40 = 2
    // element 150: n=1, j=0, h=1, l=6 -> byte 32+32+16+6, shift 0; hmask bit 4 of byte 150%32=22
    b[32 + 32 + 16 + 6] = 3;
    b[22] = 1 << 4;
    half_bytes(b + 108, 0.25f);
    quant::dequantize_row(DType::Q3_K, b, 256, y);
    CHECK(y[150] == 0.25f * 8 * 3);
    CHECK(y[151] == 0.25f * 8 * -4);
  }
  {  // q5_K: element 100 (sub-block 3, scale 2, min 1): low nibble of byte 48+32+4 high half, qh bit 3 of byte 4
    uint8_t b[176] = {};
    half_bytes(b, 1.f);
    half_bytes(b + 2, 0.5f);
    b[4 + 3] = 2;
    b[4 + 7] = 1;
    b[48 + 32 + 4] = 0x7 << 4;
    b[16 + 4] = 1 << 3;
    quant::dequantize_row(DType::Q5_K, b, 256, y);
    CHECK(y[100] == 2.f * (7 + 16) - 0.5f);
  }
  {  // q6_K: element 200 (n=1, p=2, l=8): low = high nibble of ql[64+8], hi bits 4-5 of qh[32+8]; scale 12
    uint8_t b[210] = {};
    b[64 + 8] = 0xA << 4;
    b[128 + 32 + 8] = 0x3 << 4;
    b[192 + 12] = static_cast<uint8_t>(-3);
    half_bytes(b + 208, 0.5f);
    quant::dequantize_row(DType::Q6_K, b, 256, y);
    CHECK(y[200] == 0.5f * -3 * ((0xA | 0x30) - 32));
  }
}

TEST(converter_fixtures_decode_to_the_safetensors_weights) {
  const std::string dir = sdtest::fixture("tiny-sd1/");
  TensorFile ref = read_safetensors(dir + "tiny-sd1.safetensors");
  std::map<std::string, const Tensor*> by_name;
  for (const auto& [n, t] : ref.tensors) by_name[n] = &t;
  for (const char* type : {"f16", "q8_0", "q4_0", "q4_K"}) {
    TensorFile g = read_gguf(dir + "gguf/tiny-sd1." + type + ".gguf");
    int checked = 0;
    for (const auto& [name, t] : g.tensors) {
      auto it = by_name.find(name);
      if (it == by_name.end()) continue;
      Tensor r = it->second->to_f32();
      std::vector<float> y(static_cast<size_t>(t.numel()));
      quant::dequantize_row(t.dtype(), t.data(), t.numel(), y.data());
      const double err = sdtest::rel_l2(y.data(), r.data_as<float>(), y.size());
      const double bound = t.dtype() == DType::F16 ? 0.0 : quant::rel_l2_bound(t.dtype());
      CHECK_MSG(err <= bound, "%s %s (%s): %g > %g", type, name.c_str(), dtype_name(t.dtype()), err, bound);
      ++checked;
    }
    CHECK_MSG(checked == int(g.tensors.size()), "%s: %d of %zu tensors matched by name", type, checked, g.tensors.size());
  }
}
