// GGUF reader (io/gguf.h): header, metadata of every type, tensor infos,
// alignment, block-quantized sizes; then the load_model path.
#include <memory>

#include "fuzz_model_weights.h"
#include "io/gguf.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto buf = std::make_shared<std::vector<uint8_t>>(data, data + size);
  sdfuzz::expect_typed([&] {
    sd::TensorFile file = sd::parse_gguf(buf->data(), buf->size(), buf, "fuzz.gguf");
    sdfuzz::load_like_load_model(file);
  });
  return 0;
}
