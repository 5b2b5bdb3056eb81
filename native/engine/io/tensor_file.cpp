#include "io/tensor_file.h"

#include <cstring>
#include <filesystem>
#include <fstream>

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
  // The content decides (files get renamed); the extension only breaks ties.
  char magic[4] = {0, 0, 0, 0};
  // A FIFO or device would block the read below (and the loader's thread) forever.
  std::error_code ec;
  if (std::filesystem::exists(path, ec) && !std::filesystem::is_regular_file(path, ec))
    fail(ErrorCode::Io, path + " is not a regular file");
  {
    std::ifstream f(path, std::ios::binary);
    f.read(magic, 4);
  }
  if (std::memcmp(magic, "GGUF", 4) == 0) return read_gguf(path);
  if (std::memcmp(magic, "PK\x03\x04", 4) == 0) return read_ckpt(path);
  if (ends_with(path, ".ckpt") || ends_with(path, ".pt") || ends_with(path, ".pth") || ends_with(path, ".bin")) return read_ckpt(path);
  if (ends_with(path, ".gguf")) return read_gguf(path);
  return read_safetensors(path);
}

}  // namespace sd
