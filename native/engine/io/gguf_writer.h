// GGUF v3 writer: header, string / uint32 metadata, tensor infos (dims
// innermost first, per-tensor ggml type, offsets aligned to
// general.alignment = 32), then the tensor data streamed one tensor at a
// time, so converting a model never holds more than one converted tensor.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace sd {

struct GgufTensorSpec {
  std::string name;
  DType dtype;  // f32, f16, bf16 or a block format
  Shape shape;  // outermost first (engine order); blocks run along the last dim
};

struct GgufMetadata {
  std::vector<std::pair<std::string, std::string>> strings;
  std::vector<std::pair<std::string, std::vector<std::string>>> string_arrays;  // e.g. tokenizer.ggml.tokens
};

// `fill(i, dst)` writes tensor i's dtype_bytes_for(dtype, numel) bytes into
// dst; `progress(i, n)` after each tensor. The file appears at `path` only
// once complete (it is written as path + ".partial", removed on failure).
// Throws ERR_IO when the file cannot be written, ERR_INVALID_OPTION for a
// shape a block format cannot hold, and passes on what `fill` throws.
void write_gguf(const std::string& path, const std::vector<GgufTensorSpec>& tensors, const GgufMetadata& meta,
                const std::function<void(size_t, uint8_t*)>& fill, const std::function<void(size_t, size_t)>& progress = nullptr);

}  // namespace sd
