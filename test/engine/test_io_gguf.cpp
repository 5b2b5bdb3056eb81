// GGUF reader: the stable-diffusion.cpp conversions of tiny-sd1 load as sd1
// with the same canonical names as the safetensors file; f16 tensors are
// bit-identical and block-quantized ones decode (scalar reference decoders
// below, written from the published block layouts) to the safetensors values
// within each format's error. Hand-built malformed files are refused.
#define SD_TEST_MAIN
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>

#include "core/error.h"
#include "harness.h"
#include "io/gguf.h"
#include "io/model_loader.h"
#include "io/safetensors.h"
#include "test_io_ckpt_writer.h"
#include "test_io_util.h"

using namespace sd;

static std::string gguf_path(const std::string& type) { return sdtest::fixture("tiny-sd1/gguf/tiny-sd1." + type + ".gguf"); }

static float half(const uint8_t* p) { return f16_to_f32(static_cast<uint16_t>(p[0] | (p[1] << 8))); }

// Reference block decoders (GGUF spec layouts), test-only.
static std::vector<float> decode(const Tensor& t) {
  const int64_t n = t.numel();
  std::vector<float> out(static_cast<size_t>(n));
  const uint8_t* b = static_cast<const uint8_t*>(t.data());
  if (dtype_is_float(t.dtype())) {
    Tensor f = t.to_f32();
    std::memcpy(out.data(), f.data(), static_cast<size_t>(n) * 4);
    return out;
  }
  for (int64_t blk = 0; blk < n / dtype_block_size(t.dtype()); ++blk) {
    const uint8_t* p = b + blk * dtype_block_bytes(t.dtype());
    float* y = out.data() + blk * dtype_block_size(t.dtype());
    switch (t.dtype()) {
      case DType::Q8_0:  // f16 d, int8 q[32]
        for (int i = 0; i < 32; ++i) y[i] = half(p) * static_cast<int8_t>(p[2 + i]);
        break;
      case DType::Q4_0:  // f16 d, 16 bytes: low nibbles = first 16, high = last 16, offset 8
        for (int i = 0; i < 16; ++i) {
          y[i] = half(p) * ((p[2 + i] & 0xF) - 8);
          y[i + 16] = half(p) * ((p[2 + i] >> 4) - 8);
        }
        break;
      case DType::Q4_K: {  // f16 d, f16 dmin, 12 B packed 6-bit scales/mins, 128 B nibbles
        const float d = half(p), dmin = half(p + 2);
        const uint8_t* sc = p + 4;
        const uint8_t* q = p + 16;
        auto scale_min = [&](int j, int* s, int* m) {
          if (j < 4) {
            *s = sc[j] & 63;
            *m = sc[j + 4] & 63;
          } else {
            *s = (sc[j + 4] & 0xF) | ((sc[j - 4] >> 6) << 4);
            *m = (sc[j + 4] >> 4) | ((sc[j] >> 6) << 4);
          }
        };
        for (int j = 0; j < 4; ++j) {
          int s1, m1, s2, m2;
          scale_min(2 * j, &s1, &m1);
          scale_min(2 * j + 1, &s2, &m2);
          for (int l = 0; l < 32; ++l) y[64 * j + l] = d * s1 * (q[32 * j + l] & 0xF) - dmin * m1;
          for (int l = 0; l < 32; ++l) y[64 * j + 32 + l] = d * s2 * (q[32 * j + l] >> 4) - dmin * m2;
        }
        break;
      }
      default: CHECK_MSG(false, "no reference decoder for %s", dtype_name(t.dtype())); return out;
    }
  }
  return out;
}

TEST(f16_gguf_equals_safetensors_exactly) {
  auto g = load_model(gguf_path("f16"), {});
  auto s = load_model(sdtest::fixture("tiny-sd1/tiny-sd1.safetensors"), {});
  CHECK(g->info.format == "gguf");
  CHECK(g->info.family == "sd1");
  CHECK(g->weights.all().size() == s->weights.all().size());
  for (const auto& [name, t] : s->weights.all()) {
    const Tensor* u = g->weights.find(name);
    CHECK_MSG(u != nullptr, "%s missing from the gguf", name.c_str());
    if (!u) continue;
    CHECK_MSG(u->dtype() == DType::F16 && u->shape() == t.shape(), "%s: %s %s", name.c_str(), dtype_name(u->dtype()),
              shape_str(u->shape()).c_str());
    if (u->shape() == t.shape() && u->dtype() == t.dtype())
      CHECK_MSG(std::memcmp(u->data(), t.data(), static_cast<size_t>(t.nbytes())) == 0, "%s differs", name.c_str());
  }
}

TEST(renamed_files_are_recognised_by_content) {
  iotest::TempDir dir("renamed");
  std::filesystem::copy_file(gguf_path("q8_0"), dir.file("model.safetensors"));
  auto m = load_model(dir.file("model.safetensors"), {});
  CHECK(m->info.format == "gguf");
  CHECK(m->info.family == "sd1");
}

// The reader's own output (before any load-time weight conversion): every
// tensor of each file, by its LDM name, against the safetensors values.
TEST(quantized_ggufs_decode_close_to_safetensors) {
  std::map<std::string, Tensor> ref;
  for (auto& [name, t] : read_safetensors(sdtest::fixture("tiny-sd1/tiny-sd1.safetensors")).tensors) ref[name] = t;
  const std::pair<const char*, double> formats[] = {{"q8_0", 0.01}, {"q4_0", 0.12}, {"q4_K", 0.1}};
  for (const auto& [type, tol] : formats) {
    TensorFile g = read_gguf(gguf_path(type));
    CHECK(g.format == "gguf");
    CHECK(g.tensors.size() == ref.size());
    int quantized = 0;
    double worst = 0;
    for (const auto& [name, u] : g.tensors) {
      auto it = ref.find(name);
      CHECK_MSG(it != ref.end() && u.shape() == it->second.shape(), "%s: %s unexpected or reshaped", type, name.c_str());
      if (it == ref.end() || u.shape() != it->second.shape()) continue;
      quantized += dtype_is_quantized(u.dtype());
      std::vector<float> got = decode(u);
      Tensor want = it->second.to_f32();
      const double err = sdtest::rel_l2(got.data(), want.data_as<float>(), got.size());
      worst = std::max(worst, err);
      CHECK_MSG(err <= (dtype_is_quantized(u.dtype()) ? tol : 0.0), "%s %s (%s): rel err %g", type, name.c_str(), dtype_name(u.dtype()),
                err);
    }
    CHECK_MSG(quantized > 0, "%s: no quantized tensors", type);
    std::printf("  %s: %d quantized tensors, worst relative L2 error %.4f\n", type, quantized, worst);
    // And the whole file loads as an SD 1.x model.
    CHECK(load_model(gguf_path(type), {})->info.family == "sd1");
  }
}

// A GGUF writer for malformed-input cases.
struct G {
  std::string b;
  void u32(uint64_t v) { iotest::put_le(&b, v, 4); }
  void u64(uint64_t v) { iotest::put_le(&b, v, 8); }
  void str(const std::string& s) {
    u64(s.size());
    b += s;
  }
};

struct TInfo {
  std::string name = "w";
  std::vector<uint64_t> ne = {32, 2};  // innermost first
  uint32_t type = 0;                   // f32
  uint64_t offset = 0;
};

// Header (declaring `n_tensors`, of which `infos` are written), KV bytes,
// infos, 32-byte alignment, then `data_bytes` of data.
static std::string make_gguf(const std::vector<TInfo>& infos, uint64_t data_bytes, uint64_t version = 3, const std::string& kv = "",
                             uint64_t n_kv = 0, uint64_t n_tensors = UINT64_MAX) {
  G g;
  g.u32(0x46554747);
  g.u32(version);
  g.u64(n_tensors == UINT64_MAX ? infos.size() : n_tensors);
  g.u64(n_kv);
  g.b += kv;
  for (const auto& t : infos) {
    g.str(t.name);
    g.u32(t.ne.size());
    for (uint64_t d : t.ne) g.u64(d);
    g.u32(t.type);
    g.u64(t.offset);
  }
  while (g.b.size() % 32) g.b += '\0';
  g.b += std::string(data_bytes, '\0');
  return g.b;
}

TEST(malformed_ggufs_are_refused) {
  auto parse = [](const std::string& bytes) {
    auto keep = std::make_shared<std::string>(bytes);
    return parse_gguf(reinterpret_cast<const uint8_t*>(keep->data()), keep->size(), keep, "t.gguf");
  };
  // The baseline is valid.
  TensorFile ok = parse(make_gguf({TInfo{}}, 256));
  CHECK(ok.tensors.size() == 1 && ok.tensors[0].second.shape() == Shape({2, 32}));

  G kv_align;
  kv_align.str("general.alignment");
  kv_align.u32(4);  // UINT32
  kv_align.u32(48);
  G kv_bomb;
  kv_bomb.str("tokenizer.ggml.tokens");
  kv_bomb.u32(9);  // ARRAY
  kv_bomb.u32(8);  // of STRING
  kv_bomb.u64(uint64_t(1) << 60);
  G kv_type;
  kv_type.str("x");
  kv_type.u32(77);
  TInfo second;
  second.offset = 256;
  TInfo overlapping;
  overlapping.name = "v";
  overlapping.offset = 128;
  TInfo unaligned;
  unaligned.offset = 4;
  TInfo five_dims;
  five_dims.ne = {32, 1, 1, 1, 2};
  TInfo partial_block;
  partial_block.type = 8;  // q8_0 with 16-wide rows
  partial_block.ne = {16, 2};

  const std::pair<const char*, std::string> format_cases[] = {
      {"bad magic", "GGUX" + make_gguf({TInfo{}}, 256).substr(4)},
      {"truncated header", make_gguf({TInfo{}}, 256).substr(0, 30)},
      {"tensor count bomb", make_gguf({TInfo{}}, 256, 3, "", 0, uint64_t(1) << 62)},
      {"data beyond the file", make_gguf({TInfo{}}, 255)},
      {"unaligned offset", make_gguf({unaligned}, 256)},
      {"five dimensions", make_gguf({five_dims}, 256)},
      {"duplicate tensor", make_gguf({TInfo{}, second}, 512)},
      {"overlapping tensors", make_gguf({TInfo{}, overlapping}, 512)},
      {"alignment not a power of two", make_gguf({TInfo{}}, 256, 3, kv_align.b, 1)},
      {"metadata array bomb", make_gguf({TInfo{}}, 256, 3, kv_bomb.b, 1)},
      {"unknown metadata type", make_gguf({TInfo{}}, 256, 3, kv_type.b, 1)},
      {"q8_0 rows not whole blocks", make_gguf({partial_block}, 256)},
  };
  for (const auto& [what, bytes] : format_cases) {
    bool threw = false;
    try {
      parse(bytes);
    } catch (const Error& e) {
      threw = true;
      CHECK_MSG(e.code() == ErrorCode::ModelFormat, "%s: %s %s", what, error_code_name(e.code()), e.what());
    }
    CHECK_MSG(threw, "%s accepted", what);
  }
  TInfo unknown_type;
  unknown_type.type = 99;
  CHECK_THROWS_CODE(parse(make_gguf({TInfo{}}, 256, 1)), ErrorCode::ModelUnsupported);  // version 1
  CHECK_THROWS_CODE(parse(make_gguf({unknown_type}, 256)), ErrorCode::ModelUnsupported);
}
