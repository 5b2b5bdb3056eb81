// Deterministic mutation fuzzing of the three binary readers: thousands of
// corrupted safetensors, ckpt and gguf files must each either parse or throw
// sd::Error; no other exception, crash or hang (run it under --sanitize to
// catch memory errors too).
#define SD_TEST_MAIN
#include <functional>
#include <random>
#include <string>

#include "core/error.h"
#include "harness.h"
#include "io/ckpt.h"
#include "io/gguf.h"
#include "io/safetensors.h"
#include "test_io_ckpt_writer.h"
#include "test_io_util.h"

using namespace sd;

static std::string mutate(const std::string& src, std::mt19937& rng) {
  std::string s = src;
  const int edits = 1 + static_cast<int>(rng() % 4);
  for (int e = 0; e < edits && !s.empty(); ++e) {
    const size_t at = rng() % s.size();
    switch (rng() % 6) {
      case 0: s[at] = static_cast<char>(rng()); break;                       // random byte
      case 1: s[at] = static_cast<char>(s[at] ^ (1 << (rng() % 8))); break;  // bit flip
      case 2: s.resize(at); break;                                           // truncate
      case 3: s.insert(at, 1, static_cast<char>(rng())); break;              // insert
      case 4: s.erase(at, 1 + rng() % 8); break;                             // delete
      default: s[at] = static_cast<char>(0xff); break;                       // saturate a length byte
    }
  }
  return s;
}

static void fuzz(const char* what, const std::string& seed, int iterations, const std::function<void(const std::string&)>& parse) {
  std::mt19937 rng(12345);
  int refused = 0, other = 0;
  for (int i = 0; i < iterations; ++i) {
    const std::string bytes = mutate(seed, rng);
    try {
      parse(bytes);
    } catch (const Error&) {
      ++refused;
    } catch (const std::exception& e) {
      ++other;
      CHECK_MSG(false, "%s iteration %d: non-sd exception: %s", what, i, e.what());
    }
  }
  std::printf("  %s: %d of %d mutants refused, %d other exceptions\n", what, refused, iterations, other);
  CHECK(refused > iterations / 4);  // the mutations do hit the checks
}

TEST(fuzz_safetensors) {
  std::vector<iotest::OutTensor> ts = {
      {"a", "F16", {2, 3}, std::string(12, '\1')},
      {"b.weight", "F32", {4}, std::string(16, '\2')},
      {"c", "BF16", {1, 1, 2}, std::string(4, '\3')},
  };
  std::string seed = iotest::safetensors_bytes(ts);
  fuzz("safetensors", seed, 4000, [](const std::string& b) {
    auto keep = std::make_shared<std::string>(b);
    parse_safetensors(reinterpret_cast<const uint8_t*>(keep->data()), keep->size(), keep, "f.safetensors");
  });
}

TEST(fuzz_ckpt) {
  iotest::PickleWriter p;
  p.op('}').op('q').raw() += '\0';
  p.mark().str("state_dict").empty_ordered_dict().mark();
  p.str("a").tensor("FloatStorage", "0", 6, 0, {2, 3}, {3, 1});
  p.str("t").tensor("HalfStorage", "1", 4, 0, {2, 2}, {1, 2});
  p.op('u').str("epoch").integer(7).op('u');
  std::string seed = iotest::zip_bytes(
      {{"archive/data.pkl", p.finish()}, {"archive/data/0", std::string(24, '\1')}, {"archive/data/1", std::string(8, '\2')}});
  iotest::TempDir dir("fuzz");
  const std::string path = dir.file("f.ckpt");
  fuzz("ckpt", seed, 1500, [&](const std::string& b) {
    iotest::write_file(path, b);
    read_ckpt(path);
  });
}

TEST(fuzz_gguf) {
  std::string g;
  auto u32 = [&](uint64_t v) { iotest::put_le(&g, v, 4); };
  auto u64 = [&](uint64_t v) { iotest::put_le(&g, v, 8); };
  auto str = [&](const std::string& s) {
    u64(s.size());
    g += s;
  };
  u32(0x46554747);
  u32(3);
  u64(2);  // tensors
  u64(3);  // kv
  str("general.architecture");
  u32(8);
  str("sd1");
  str("general.alignment");
  u32(4);
  u32(32);
  str("list");
  u32(9);
  u32(5);
  u64(3);
  u32(1);
  u32(2);
  u32(3);
  str("w");
  u32(2);
  u64(32);
  u64(2);
  u32(8);  // q8_0
  u64(0);
  str("b");
  u32(1);
  u64(4);
  u32(0);  // f32
  u64(96);
  while (g.size() % 32) g += '\0';
  g += std::string(112, '\5');
  fuzz("gguf", g, 4000, [](const std::string& b) {
    auto keep = std::make_shared<std::string>(b);
    parse_gguf(reinterpret_cast<const uint8_t*>(keep->data()), keep->size(), keep, "f.gguf");
  });
}
