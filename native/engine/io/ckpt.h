// PyTorch checkpoints (.ckpt / .pt / .pth / .bin written by torch.save's zip
// format): our own zip reader (zip.h) and a restricted unpickler (pickle.h)
// that only rebuilds tensors from storages and plain containers. Any other
// global is refused by name and never executed. A `state_dict` wrapper is
// unwrapped. Tensors are views into the mapped file when the stored data is
// contiguous and aligned; other layouts are copied.
#pragma once
#include <string>

#include "io/tensor_file.h"

namespace sd {

// Throws ERR_MODEL_FORMAT (malformed zip/pickle, disallowed global) or
// ERR_MODEL_UNSUPPORTED (legacy non-zip torch format, compressed entries).
TensorFile read_ckpt(const std::string& path);

// read_ckpt that also descends into nested dicts (up to 8 levels), naming
// their tensors "<key>.<key>": A1111 textual-inversion files keep their
// vectors in {"string_to_param": {"*": tensor}} -> "string_to_param.*".
TensorFile read_ckpt_nested(const std::string& path);

}  // namespace sd
