// Helpers for the io tests: a minimal safetensors writer (to build modified
// or hostile checkpoints at test time) and a per-test temp folder.
#pragma once
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "io/file_path.h"
#include "io/model_loader.h"
#include "tensor/tensor.h"

namespace iotest {

struct OutTensor {
  std::string name;
  std::string dtype;  // safetensors spelling: "F16", "F32", ...
  sd::Shape shape;
  std::string bytes;
};

inline const char* st_dtype(sd::DType t) {
  switch (t) {
    case sd::DType::F32: return "F32";
    case sd::DType::F16: return "F16";
    case sd::DType::BF16: return "BF16";
    default: return "F64";
  }
}

// Raw bytes of a contiguous tensor.
inline std::string tensor_bytes(const sd::Tensor& t) {
  return std::string(static_cast<const char*>(t.data()), static_cast<size_t>(t.nbytes()));
}

inline OutTensor out_tensor(const std::string& name, const sd::Tensor& t) {
  return {name, st_dtype(t.dtype()), t.shape(), tensor_bytes(t)};
}

inline std::string safetensors_bytes(const std::vector<OutTensor>& ts) {
  std::string header = "{", data;
  for (const auto& t : ts) {
    if (header.size() > 1) header += ",";
    header += "\"" + t.name + "\":{\"dtype\":\"" + t.dtype + "\",\"shape\":[";
    for (size_t i = 0; i < t.shape.size(); ++i) header += (i ? "," : "") + std::to_string(t.shape[i]);
    header += "],\"data_offsets\":[" + std::to_string(data.size()) + "," + std::to_string(data.size() + t.bytes.size()) + "]}";
    data += t.bytes;
  }
  header += "}";
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = char((uint64_t(header.size()) >> (8 * i)) & 0xff);
  return out + header + data;
}

inline void write_file(const std::string& path, const std::string& bytes) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream f(path, std::ios::binary);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// A recursive copy (of a fixture folder) that the test may then modify or
// delete: fixtures can be read-only, and Windows refuses to delete a
// read-only file, so the copies are made owner-writable.
inline void copy_tree(const std::string& from, const std::string& to) {
  namespace fs = std::filesystem;
  const fs::path dst = sd::fs_path(to);  // UTF-8, as the engine's paths
  fs::copy(sd::fs_path(from), dst, fs::copy_options::recursive);
  fs::permissions(dst, fs::perms::owner_write, fs::perm_options::add);
  for (const auto& e : fs::recursive_directory_iterator(dst)) fs::permissions(e.path(), fs::perms::owner_write, fs::perm_options::add);
}

// A fresh folder under the system temp dir, removed when the object dies.
struct TempDir {
  std::string path;
  explicit TempDir(const std::string& tag) {
    path = (std::filesystem::temp_directory_path() /
            ("sd-native-io-" + tag + "-" + std::to_string(std::chrono::steady_clock::now().time_since_epoch().count())))
               .string();
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string file(const std::string& name) const { return path + "/" + name; }
};

}  // namespace iotest
