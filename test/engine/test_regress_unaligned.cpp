// Regression: safetensors does not align tensor data, so F16/BF16/F64 views
// can start at odd addresses; Tensor::to_f32 read them through typed pointers
// (UBSan "load of misaligned address" in test_taesd under the clang sanitizer
// job). Values must convert exactly whatever the alignment.
#define SD_TEST_MAIN
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "harness.h"
#include "io/safetensors.h"

using namespace sd;

TEST(odd_offset_f16_bf16_f64_convert_exactly) {
  // Data: one pad byte, then f16 [1, -2], bf16 [0.5], f64 [3.25], each at an odd offset.
  std::string header = R"({"pad":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},)"
                       R"("h":{"dtype":"F16","shape":[2],"data_offsets":[1,5]},)"
                       R"("b":{"dtype":"BF16","shape":[1],"data_offsets":[5,7]},)"
                       R"("d":{"dtype":"F64","shape":[1],"data_offsets":[7,15]}})";
  while (header.size() % 8) header += ' ';
  auto buf = std::make_shared<std::vector<uint8_t>>();
  for (int i = 0; i < 8; ++i) buf->push_back(uint8_t(header.size() >> (8 * i)));
  buf->insert(buf->end(), header.begin(), header.end());
  const uint8_t data[] = {0x00, 0x00, 0x3c, 0x00, 0xc0, 0x00, 0x3f};
  buf->insert(buf->end(), data, data + sizeof data);
  const double d = 3.25;
  uint8_t db[8];
  std::memcpy(db, &d, 8);  // little-endian host, as safetensors stores it
  buf->insert(buf->end(), db, db + 8);

  TensorFile f = parse_safetensors(buf->data(), buf->size(), buf, "unaligned.safetensors");
  CHECK(f.tensors.size() == 4);
  for (const auto& [name, t] : f.tensors) {
    if (name == "pad") continue;
    CHECK_MSG(reinterpret_cast<uintptr_t>(t.data()) % 2 == 1, "%s is not at an odd address", name.c_str());
    Tensor x = t.to_f32();
    const float* v = x.data_as<float>();
    if (name == "h") CHECK(v[0] == 1.0f && v[1] == -2.0f);
    if (name == "b") CHECK(v[0] == 0.5f);
    if (name == "d") CHECK(v[0] == 3.25f);
  }
}
