#include "io/tensor_file.h"

#include "core/error.h"
#include "io/ckpt.h"
#include "io/gguf.h"
#include "io/safetensors.h"

namespace sd {

namespace {
bool ends_with(const std::string& s, const std::string& suffix) {
  if (s.size() < suffix.size()) return false;
  for (size_t i = 0; i < suffix.size(); ++i) {
    char c = s[s.size() - suffix.size() + i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != suffix[i]) return false;
  }
  return true;
}
}  // namespace

TensorFile read_tensor_file(const std::string& path) {
  if (ends_with(path, ".ckpt") || ends_with(path, ".pt") || ends_with(path, ".pth") || ends_with(path, ".bin"))
    return read_ckpt(path);
  if (ends_with(path, ".gguf")) return read_gguf(path);
  return read_safetensors(path);
}

}  // namespace sd
