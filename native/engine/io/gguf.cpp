#include "io/gguf.h"

#include <algorithm>
#include <cstring>
#include <set>

#include "core/error.h"
#include "io/mapped_file.h"

namespace sd {

namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" little-endian
constexpr uint32_t kMaxDims = 4;         // GGML_MAX_DIMS
constexpr int kMaxArrayDepth = 4;

enum ValueType : uint32_t { U8, I8, U16, I16, U32, I32, F32, BOOL, STRING, ARRAY, U64, I64, F64, kValueTypes };
constexpr uint64_t kScalarSize[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};

// ggml_type ids (GGUF spec) -> DType.
bool ggml_type(uint32_t id, DType* out) {
  switch (id) {
    case 0: *out = DType::F32; return true;
    case 1: *out = DType::F16; return true;
    case 2: *out = DType::Q4_0; return true;
    case 3: *out = DType::Q4_1; return true;
    case 6: *out = DType::Q5_0; return true;
    case 7: *out = DType::Q5_1; return true;
    case 8: *out = DType::Q8_0; return true;
    case 10: *out = DType::Q2_K; return true;
    case 11: *out = DType::Q3_K; return true;
    case 12: *out = DType::Q4_K; return true;
    case 13: *out = DType::Q5_K; return true;
    case 14: *out = DType::Q6_K; return true;
    case 24: *out = DType::I8; return true;
    case 25: *out = DType::I16; return true;
    case 26: *out = DType::I32; return true;
    case 27: *out = DType::I64; return true;
    case 28: *out = DType::F64; return true;
    case 30: *out = DType::BF16; return true;
    default: return false;
  }
}

class Reader {
 public:
  Reader(const uint8_t* d, uint64_t n, const std::string& path) : d_(d), n_(n), path_(path) {}
  [[noreturn]] void bad(const std::string& what) const {
    fail(ErrorCode::ModelFormat, path_ + ": not a valid GGUF file: " + what + " (at byte " + std::to_string(pos_) + ")");
  }
  const uint8_t* take(uint64_t k, const char* what) {
    if (k > n_ - pos_) bad(std::string(what) + " runs past the end of the file (truncated?)");
    const uint8_t* p = d_ + pos_;
    pos_ += k;
    return p;
  }
  uint64_t uint(int bytes, const char* what) {
    const uint8_t* p = take(bytes, what);
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | p[i];
    return v;
  }
  std::string str(const char* what) {
    const uint64_t len = uint(8, what);
    const uint8_t* p = take(len, what);
    return std::string(reinterpret_cast<const char*>(p), len);
  }
  // Reads one value; returns a short text form for the metadata map. The
  // elements of an array of strings also go to *strings when given.
  std::string value(uint32_t type, int depth, std::vector<std::string>* strings = nullptr) {
    if (type >= kValueTypes) bad("unknown metadata value type " + std::to_string(type));
    if (type == STRING) return str("metadata string");
    if (type == ARRAY) {
      if (depth >= kMaxArrayDepth) bad("metadata arrays nested deeper than " + std::to_string(kMaxArrayDepth));
      const uint32_t et = static_cast<uint32_t>(uint(4, "array element type"));
      const uint64_t count = uint(8, "array length");
      if (et >= kValueTypes) bad("unknown array element type " + std::to_string(et));
      // Every element takes at least one byte (strings and arrays 8+).
      const uint64_t min_size = kScalarSize[et] ? kScalarSize[et] : 8;
      if (count > (n_ - pos_) / min_size) bad("array of " + std::to_string(count) + " elements does not fit in the file");
      if (kScalarSize[et]) {
        take(count * kScalarSize[et], "array data");
      } else if (et == STRING && strings) {
        for (uint64_t i = 0; i < count; ++i) strings->push_back(str("metadata string"));
      } else {
        for (uint64_t i = 0; i < count; ++i) value(et, depth + 1);
      }
      return "[" + std::to_string(count) + " items]";
    }
    const uint8_t* p = take(kScalarSize[type], "metadata value");
    uint64_t u = 0;
    for (int i = static_cast<int>(kScalarSize[type]) - 1; i >= 0; --i) u = (u << 8) | p[i];
    switch (type) {
      case I8: return std::to_string(static_cast<int8_t>(u));
      case I16: return std::to_string(static_cast<int16_t>(u));
      case I32: return std::to_string(static_cast<int32_t>(u));
      case I64: return std::to_string(static_cast<int64_t>(u));
      case BOOL:
        if (u > 1) bad("bool value " + std::to_string(u));
        return u ? "true" : "false";
      case F32: {
        float f;
        uint32_t b = static_cast<uint32_t>(u);
        std::memcpy(&f, &b, 4);
        return std::to_string(f);
      }
      case F64: {
        double f;
        std::memcpy(&f, &u, 8);
        return std::to_string(f);
      }
      default: return std::to_string(u);
    }
  }
  uint64_t pos() const { return pos_; }

 private:
  const uint8_t* d_;
  uint64_t n_;
  const std::string& path_;
  uint64_t pos_ = 0;
};

}  // namespace

TensorFile parse_gguf(const uint8_t* data, uint64_t size, std::shared_ptr<void> owner, const std::string& path) {
  Reader r(data, size, path);
  if (size < 24 || r.uint(4, "magic") != kMagic) fail(ErrorCode::ModelFormat, path + ": not a GGUF file (bad magic or too short)");
  const uint64_t version = r.uint(4, "version");
  if (version != 2 && version != 3)
    fail(ErrorCode::ModelUnsupported, path + ": GGUF version " + std::to_string(version) + " (2 and 3 are supported)");
  const uint64_t n_tensors = r.uint(8, "tensor count");
  const uint64_t n_kv = r.uint(8, "metadata count");
  // Each KV pair takes >= 13 bytes and each tensor info >= 28.
  if (n_kv > size / 13 || n_tensors > size / 28)
    r.bad(std::to_string(n_tensors) + " tensors / " + std::to_string(n_kv) + " metadata entries cannot fit in the file");

  TensorFile out;
  out.path = path;
  out.format = "gguf";
  out.file_size = size;
  uint64_t alignment = 32;
  for (uint64_t i = 0; i < n_kv; ++i) {
    std::string key = r.str("metadata key");
    const uint32_t type = static_cast<uint32_t>(r.uint(4, "metadata type"));
    std::vector<std::string> strings;  // kept for tokenizer.* arrays only
    std::string v = r.value(type, 0, key.rfind("tokenizer.", 0) == 0 ? &strings : nullptr);
    if (type == ARRAY && !strings.empty()) out.string_arrays[key] = std::move(strings);
    if (key == "general.alignment") {
      if (type != U32) r.bad("general.alignment is not a uint32");
      alignment = std::stoull(v);
      if (alignment == 0 || (alignment & (alignment - 1)) != 0 || alignment > (1u << 20))
        r.bad("general.alignment " + v + " is not a power of two");
    }
    if (out.metadata.count(key)) r.bad("duplicate metadata key \"" + key + "\"");
    out.metadata[key] = std::move(v);
  }

  struct Info {
    std::string name;
    DType dtype;
    Shape shape;
    uint64_t offset, bytes;
  };
  std::vector<Info> infos;
  infos.reserve(static_cast<size_t>(std::min<uint64_t>(n_tensors, 1u << 16)));
  std::set<std::string> names;
  for (uint64_t i = 0; i < n_tensors; ++i) {
    Info t;
    t.name = r.str("tensor name");
    if (!names.insert(t.name).second) r.bad("duplicate tensor \"" + t.name + "\"");
    const std::string where = "tensor \"" + t.name + "\"";
    const uint64_t nd = r.uint(4, "dimension count");
    if (nd > kMaxDims) r.bad(where + " has " + std::to_string(nd) + " dimensions (max 4)");
    std::vector<int64_t> ne(nd);
    for (auto& d : ne) {
      const uint64_t v = r.uint(8, "dimension");
      if (v > (uint64_t(1) << 40)) r.bad(where + " has a dimension of " + std::to_string(v));
      d = static_cast<int64_t>(v);
    }
    const uint32_t type = static_cast<uint32_t>(r.uint(4, "tensor type"));
    if (!ggml_type(type, &t.dtype))
      fail(ErrorCode::ModelUnsupported, path + ": " + where + " has ggml type " + std::to_string(type) + ", which sd-native does not read");
    t.offset = r.uint(8, "tensor offset");
    t.shape.assign(ne.rbegin(), ne.rend());  // ne[0] is innermost
    const int64_t numel = shape_numel(t.shape);
    if (numel < 0) r.bad(where + " shape overflows");
    // Blocks run along the innermost dimension.
    if (!ne.empty() && ne[0] % dtype_block_size(t.dtype) != 0)
      r.bad(where + " innermost size " + std::to_string(ne[0]) + " is not a multiple of the " + dtype_name(t.dtype) + " block size");
    const int64_t bytes = dtype_bytes_for(t.dtype, numel);
    if (bytes < 0) r.bad(where + " size overflows");
    t.bytes = static_cast<uint64_t>(bytes);
    if (t.offset % alignment != 0) r.bad(where + " offset " + std::to_string(t.offset) + " is not aligned to " + std::to_string(alignment));
    infos.push_back(std::move(t));
  }
  const uint64_t data_start = (r.pos() + alignment - 1) / alignment * alignment;
  if (data_start > size) r.bad("data section starts past the end of the file");
  const uint64_t data_size = size - data_start;
  std::vector<std::pair<uint64_t, size_t>> spans;
  for (size_t i = 0; i < infos.size(); ++i) {
    const Info& t = infos[i];
    if (t.offset > data_size || t.bytes > data_size - t.offset)
      fail(ErrorCode::ModelFormat, path + ": tensor \"" + t.name + "\" data [" + std::to_string(t.offset) + ", +" +
                                       std::to_string(t.bytes) + ") lies beyond the data section (" + std::to_string(data_size) +
                                       " bytes; truncated?)");
    spans.emplace_back(t.offset, i);
  }
  std::sort(spans.begin(), spans.end());
  for (size_t i = 1; i < spans.size(); ++i) {
    const Info& a = infos[spans[i - 1].second];
    if (a.bytes > 0 && a.offset + a.bytes > spans[i].first)
      fail(ErrorCode::ModelFormat, path + ": tensors \"" + a.name + "\" and \"" + infos[spans[i].second].name + "\" overlap");
  }
  out.tensors.reserve(infos.size());
  for (auto& t : infos) {
    void* p = const_cast<uint8_t*>(data + data_start + t.offset);
    out.tensors.emplace_back(std::move(t.name), Tensor(t.dtype, std::move(t.shape), p, owner));
  }
  return out;
}

TensorFile read_gguf(const std::string& path) {
  auto file = MappedFile::open(path);
  return parse_gguf(file->data(), file->size(), file, path);
}

}  // namespace sd
