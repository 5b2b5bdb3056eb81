#include "io/tensor_file.h"

#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "io/ckpt.h"
#include "io/file_path.h"
#include "io/gguf.h"
#include "io/safetensors.h"
#include "util/strings.h"

namespace sd {

TensorFile read_tensor_file(const std::string& path) {
  // The content decides (files get renamed); the extension only breaks ties.
  unsigned char head[9] = {0, 0, 0, 0, 0, 0, 0, 0, 0};
  // A FIFO or device would block the read below (and the loader's thread) forever.
  std::error_code ec;
  if (std::filesystem::exists(fs_path(path), ec) && !std::filesystem::is_regular_file(fs_path(path), ec))
    fail(ErrorCode::Io, path + " is not a regular file");
  {
    std::ifstream f(fs_path(path), std::ios::binary);
    f.read(reinterpret_cast<char*>(head), sizeof head);
  }
  if (std::memcmp(head, "GGUF", 4) == 0) return read_gguf(path);
  if (std::memcmp(head, "PK\x03\x04", 4) == 0) return read_ckpt(path);
  // safetensors: an 8-byte little-endian header length, then the JSON's '{'.
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | head[i];
  const uint64_t size = std::filesystem::file_size(fs_path(path), ec);
  if (!ec && head[8] == '{' && header_len >= 2 && header_len <= size - 8) return read_safetensors(path);
  const std::string lower = ascii_lower(path);
  if (ends_with(lower, ".ckpt") || ends_with(lower, ".pt") || ends_with(lower, ".pth") || ends_with(lower, ".bin")) return read_ckpt(path);
  if (ends_with(lower, ".gguf")) return read_gguf(path);
  return read_safetensors(path);
}

}  // namespace sd
