#include "io/gguf_writer.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>

#include "core/error.h"
#include "io/file_path.h"

namespace sd {
namespace {

constexpr uint64_t kAlignment = 32;

// ggml type ids (GGUF spec).
uint32_t ggml_type_id(DType t) {
  switch (t) {
    case DType::F32: return 0;
    case DType::F16: return 1;
    case DType::Q4_0: return 2;
    case DType::Q4_1: return 3;
    case DType::Q5_0: return 6;
    case DType::Q5_1: return 7;
    case DType::Q8_0: return 8;
    case DType::Q2_K: return 10;
    case DType::Q3_K: return 11;
    case DType::Q4_K: return 12;
    case DType::Q5_K: return 13;
    case DType::Q6_K: return 14;
    case DType::BF16: return 30;
    default: fail(ErrorCode::InvalidOption, std::string("GGUF cannot store ") + dtype_name(t) + " tensors");
  }
}

struct Out {
  std::string b;
  void u32(uint32_t v) {
    for (int i = 0; i < 4; ++i) b += char((v >> (8 * i)) & 0xFF);
  }
  void u64(uint64_t v) {
    for (int i = 0; i < 8; ++i) b += char((v >> (8 * i)) & 0xFF);
  }
  void str(const std::string& s) {
    u64(s.size());
    b += s;
  }
};

enum : uint32_t { kU32 = 4, kString = 8, kArray = 9 };

}  // namespace

void write_gguf(const std::string& path, const std::vector<GgufTensorSpec>& tensors, const GgufMetadata& meta,
                const std::function<void(size_t, uint8_t*)>& fill, const std::function<void(size_t, size_t)>& progress) {
  Out h;
  h.u32(0x46554747);  // "GGUF"
  h.u32(3);
  h.u64(tensors.size());
  h.u64(1 + meta.strings.size() + meta.string_arrays.size());
  h.str("general.alignment");
  h.u32(kU32);
  h.u32(uint32_t(kAlignment));
  for (const auto& [k, v] : meta.strings) {
    h.str(k);
    h.u32(kString);
    h.str(v);
  }
  for (const auto& [k, v] : meta.string_arrays) {
    h.str(k);
    h.u32(kArray);
    h.u32(kString);
    h.u64(v.size());
    for (const auto& s : v) h.str(s);
  }
  std::vector<uint64_t> sizes;
  uint64_t offset = 0;
  for (const auto& t : tensors) {
    const int64_t numel = shape_numel(t.shape);
    if (t.shape.empty() || numel < 0 || t.shape.back() % dtype_block_size(t.dtype) != 0)
      fail(ErrorCode::InvalidOption,
           "GGUF: tensor \"" + t.name + "\" " + shape_str(t.shape) + " cannot be stored as " + dtype_name(t.dtype));
    h.str(t.name);
    h.u32(uint32_t(t.shape.size()));
    for (auto it = t.shape.rbegin(); it != t.shape.rend(); ++it) h.u64(uint64_t(*it));  // innermost first
    h.u32(ggml_type_id(t.dtype));
    h.u64(offset);
    sizes.push_back(uint64_t(dtype_bytes_for(t.dtype, numel)));
    offset += (sizes.back() + kAlignment - 1) / kAlignment * kAlignment;
  }
  while (h.b.size() % kAlignment) h.b += '\0';

  // Written under a temporary name and renamed into place only when complete,
  // so a failed conversion (disk full, an unreadable source tensor) leaves
  // no truncated OUT.gguf and any earlier file at `path` intact. The name is
  // unique per call: two conversions to one path must not write one file.
  char tag[24];
  std::snprintf(tag, sizeof tag, ".%016llx",
                static_cast<unsigned long long>((uint64_t(std::random_device{}()) << 32) ^ std::random_device{}()));
  const std::filesystem::path final_path = fs_path(path), partial = fs_path(path + tag + ".partial");
  try {
    std::ofstream f(partial, std::ios::binary | std::ios::trunc);
    if (!f) {
      std::error_code ec;
      const bool folder = std::filesystem::is_directory(fs_path(path).parent_path().empty() ? "." : fs_path(path).parent_path(), ec);
      fail(ErrorCode::Io, "cannot write " + path + (folder ? " (permission denied?)" : ": its folder does not exist"));
    }
    auto put = [&](const void* p, size_t n) {
      if (n && !f.write(static_cast<const char*>(p), std::streamsize(n))) fail(ErrorCode::Io, "writing " + path + " failed (disk full?)");
    };
    put(h.b.data(), h.b.size());
    std::vector<uint8_t> buf;
    for (size_t i = 0; i < tensors.size(); ++i) {
      const uint64_t padded = (sizes[i] + kAlignment - 1) / kAlignment * kAlignment;
      buf.assign(size_t(padded), 0);
      fill(i, buf.data());
      put(buf.data(), buf.size());
      if (progress) progress(i + 1, tensors.size());
    }
    f.close();
    if (f.fail()) fail(ErrorCode::Io, "writing " + path + " failed (disk full?)");
    std::error_code ec;
    std::filesystem::rename(partial, final_path, ec);  // replaces an existing file
    if (ec) fail(ErrorCode::Io, "cannot replace " + path + " (" + ec.message() + "; is it open, e.g. a loaded model?)");
  } catch (...) {
    std::error_code ec;
    std::filesystem::remove(partial, ec);
    throw;
  }
}

}  // namespace sd
