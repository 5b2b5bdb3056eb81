#include "io/safetensors.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "core/error.h"
#include "io/json.h"
#include "io/mapped_file.h"

namespace sd {

namespace {

// The safetensors format caps the header at 100 MB.
constexpr uint64_t kMaxHeaderBytes = 100ull * 1000 * 1000;

[[noreturn]] void bad(const std::string& path, const std::string& what) {
  fail(ErrorCode::ModelFormat, path + ": not a valid safetensors file: " + what);
}

bool parse_dtype(const std::string& s, DType* out) {
  static const std::pair<const char*, DType> kTable[] = {
      {"F32", DType::F32}, {"F16", DType::F16}, {"BF16", DType::BF16}, {"F64", DType::F64},
      {"I8", DType::I8},   {"U8", DType::U8},   {"I16", DType::I16},   {"I32", DType::I32},
      {"I64", DType::I64}, {"BOOL", DType::BOOL},
  };
  for (const auto& e : kTable) {
    if (s == e.first) {
      *out = e.second;
      return true;
    }
  }
  return false;
}

}  // namespace

TensorFile parse_safetensors(const uint8_t* data, uint64_t size, std::shared_ptr<void> owner, const std::string& path) {
  if (size < 8) bad(path, "file is " + std::to_string(size) + " bytes, too short for the 8-byte header length");
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | data[i];
  if (header_len > kMaxHeaderBytes) bad(path, "header length " + std::to_string(header_len) + " exceeds the 100 MB limit");
  if (header_len > size - 8)
    bad(path, "header length " + std::to_string(header_len) + " runs past the end of the " + std::to_string(size) + "-byte file (truncated?)");
  std::string_view header(reinterpret_cast<const char*>(data + 8), header_len);
  Json root;
  try {
    root = Json::parse(header, 8);
  } catch (const std::invalid_argument& e) {
    bad(path, std::string("header is not valid JSON (") + e.what() + ")");
  }
  if (!root.is_object()) bad(path, "header is not a JSON object");

  const uint64_t data_start = 8 + header_len;
  const uint64_t data_size = size - data_start;
  TensorFile out;
  out.path = path;
  out.format = "safetensors";
  out.file_size = size;
  out.tensors.reserve(root.members().size());
  struct Span {
    uint64_t begin, end;
    size_t index;
  };
  std::vector<Span> spans;
  spans.reserve(root.members().size());

  for (const auto& [name, entry] : root.members()) {
    if (name == "__metadata__") {
      if (!entry.is_object()) bad(path, "__metadata__ is not an object");
      for (const auto& [k, v] : entry.members()) {
        if (!v.is_string()) bad(path, "__metadata__ value for \"" + k + "\" is not a string");
        out.metadata[k] = v.as_string();
      }
      continue;
    }
    const std::string where = "tensor \"" + name + "\"";
    if (!entry.is_object()) bad(path, where + " is not an object");
    const Json* dt = entry.find("dtype");
    const Json* sh = entry.find("shape");
    const Json* off = entry.find("data_offsets");
    if (!dt || !dt->is_string()) bad(path, where + " has no dtype string");
    DType dtype;
    if (!parse_dtype(dt->as_string(), &dtype)) {
      if (dt->as_string().rfind("F8_", 0) == 0)
        fail(ErrorCode::ModelUnsupported, path + ": " + where + " uses dtype " + dt->as_string() + ", which sd-native does not read yet");
      bad(path, where + " has unknown dtype \"" + dt->as_string() + "\"");
    }
    if (!sh || !sh->is_array()) bad(path, where + " has no shape array");
    if (sh->items().size() > 8) bad(path, where + " has " + std::to_string(sh->items().size()) + " dimensions");
    Shape shape;
    for (const Json& d : sh->items()) {
      int64_t v;
      if (!d.as_int64(&v) || v < 0) bad(path, where + " has a shape entry that is not a non-negative integer");
      shape.push_back(v);
    }
    int64_t numel = shape_numel(shape);
    int64_t nbytes = numel < 0 ? -1 : dtype_bytes_for(dtype, numel);
    if (nbytes < 0) bad(path, where + " shape " + shape_str(shape) + " overflows");
    if (!off || !off->is_array() || off->items().size() != 2) bad(path, where + " has no [begin, end] data_offsets");
    int64_t b, e;
    if (!off->items()[0].as_int64(&b) || !off->items()[1].as_int64(&e) || b < 0 || e < 0)
      bad(path, where + " has data_offsets that are not non-negative integers");
    if (b > e) bad(path, where + " has data_offsets begin " + std::to_string(b) + " > end " + std::to_string(e));
    if (static_cast<uint64_t>(e) > data_size)
      bad(path, where + " data_offsets end " + std::to_string(e) + " lies beyond the data section (" + std::to_string(data_size) + " bytes)");
    if (e - b != nbytes)
      bad(path, where + " shape " + shape_str(shape) + " (" + dt->as_string() + ") needs " + std::to_string(nbytes) + " bytes but data_offsets span " +
                    std::to_string(e - b));
    spans.push_back({static_cast<uint64_t>(b), static_cast<uint64_t>(e), out.tensors.size()});
    void* ptr = const_cast<uint8_t*>(data + data_start + b);
    out.tensors.emplace_back(name, Tensor(dtype, std::move(shape), ptr, owner));
  }

  std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) { return a.begin < b.begin; });
  for (size_t i = 1; i < spans.size(); ++i) {
    if (spans[i].begin < spans[i - 1].end && spans[i].end > spans[i].begin && spans[i - 1].end > spans[i - 1].begin)
      bad(path, "tensors \"" + out.tensors[spans[i - 1].index].first + "\" and \"" + out.tensors[spans[i].index].first + "\" overlap");
  }
  return out;
}

TensorFile read_safetensors(const std::string& path) {
  auto file = MappedFile::open(path);
  return parse_safetensors(file->data(), file->size(), file, path);
}

}  // namespace sd
