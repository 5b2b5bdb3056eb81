// GGUF (v2/v3) reader: header, key/value metadata of every type, tensor
// infos, general.alignment, then zero-copy tensor views over the aligned data
// section. GGUF lists dimensions innermost first (ne[0]); tensors come out in
// the engine's outermost-first order. Per-tensor types are honoured (files mix
// f16 and block-quantized tensors). Every count, length and offset is
// validated against the file before use.
#pragma once
#include <string>

#include "io/tensor_file.h"

namespace sd {

// Throws ERR_MODEL_FORMAT naming the field / tensor and offset, or
// ERR_MODEL_UNSUPPORTED for tensor types sd-native has no kernels for.
TensorFile read_gguf(const std::string& path);
TensorFile parse_gguf(const uint8_t* data, uint64_t size, std::shared_ptr<void> owner, const std::string& path);

}  // namespace sd
