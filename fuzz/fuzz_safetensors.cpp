// safetensors reader (io/safetensors.h): header length, JSON header, offsets,
// then the load_model path (name mapping, detection) over what it accepted.
#include <memory>

#include "fuzz_model_weights.h"
#include "io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // The tensors are views; give them an owned copy as the mapped file would.
  auto buf = std::make_shared<std::vector<uint8_t>>(data, data + size);
  sdfuzz::expect_typed([&] {
    sd::TensorFile file = sd::parse_safetensors(buf->data(), buf->size(), buf, "fuzz.safetensors");
    sdfuzz::load_like_load_model(file);
  });
  return 0;
}
