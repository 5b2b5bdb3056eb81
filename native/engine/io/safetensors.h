// safetensors reader: 8-byte little-endian header length, a JSON header
// {name: {dtype, shape, data_offsets: [begin, end)}, "__metadata__": {..}},
// then the raw little-endian data. Every field is validated before use; the
// tensors are zero-copy views into the mapped file.
#pragma once
#include <string>

#include "io/tensor_file.h"

namespace sd {

// Throws ERR_MODEL_FORMAT naming the tensor and the offending field.
TensorFile read_safetensors(const std::string& path);

// Parses an already-mapped buffer (used by the reader and the fuzz target).
// `owner` keeps `data` alive for the returned tensor views.
TensorFile parse_safetensors(const uint8_t* data, uint64_t size, std::shared_ptr<void> owner, const std::string& path);

}  // namespace sd
