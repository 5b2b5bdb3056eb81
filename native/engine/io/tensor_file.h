// What every checkpoint reader produces: named tensors (views into a mapped
// file wherever the stored layout allows), string metadata, and where they
// came from. Readers: safetensors.h, ckpt.h (zip + restricted unpickler),
// gguf.h. Name mapping to the engine's canonical names happens afterwards
// (name_map.h), so a reader never needs to know what a model is.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "tensor/tensor.h"

namespace sd {

struct TensorFile {
  std::string path;
  std::string format;  // "safetensors" | "ckpt" | "gguf"
  uint64_t file_size = 0;
  std::vector<std::pair<std::string, Tensor>> tensors;  // in file order
  std::map<std::string, std::string> metadata;
  // GGUF string arrays under tokenizer.* (an embedded vocabulary, io/clip_vocab.h).
  std::map<std::string, std::vector<std::string>> string_arrays;
};

// Opens a single weights file, choosing the reader by content ("GGUF" ->
// gguf.h, a zip -> ckpt.h), then by extension (.ckpt .pt .pth .bin -> ckpt.h,
// .gguf -> gguf.h), else safetensors.h.
TensorFile read_tensor_file(const std::string& path);

}  // namespace sd
