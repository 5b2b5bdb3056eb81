#include "io/safetensors.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string_view>

#include "core/error.h"
#include "io/json.h"
#include "io/mapped_file.h"
#include "util/strings.h"

namespace sd {

namespace {

// The safetensors format caps the header at 100 MB.
constexpr uint64_t kMaxHeaderBytes = 100ull * 1000 * 1000;

[[noreturn]] void bad(const std::string& path, const std::string& what) {
  fail(ErrorCode::ModelFormat, path + ": not a valid safetensors file: " + what);
}

bool parse_dtype(const std::string& s, DType* out) {
  static const std::pair<const char*, DType> kTable[] = {
      {"F32", DType::F32}, {"F16", DType::F16}, {"BF16", DType::BF16}, {"F64", DType::F64}, {"I8", DType::I8},
      {"U8", DType::U8},   {"I16", DType::I16}, {"I32", DType::I32},   {"I64", DType::I64}, {"BOOL", DType::BOOL},
  };
  for (const auto& e : kTable) {
    if (s == e.first) {
      *out = e.second;
      return true;
    }
  }
  return false;
}

// A single-pass scanner over the header: safetensors headers can list
// hundreds of thousands of tensors, so entries are read straight into
// tensors without building a JSON tree (the generic Json parser is used only
// for __metadata__, escaped strings and unknown fields).
class HeaderScanner {
 public:
  HeaderScanner(std::string_view text, const std::string& path) : s_(text), path_(path) {}

  [[noreturn]] void syntax(const std::string& what) const {
    bad(path_, "header is not valid JSON (at byte " + std::to_string(pos_ + 8) + ": " + what + ")");
  }
  void ws() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) ++pos_;
  }
  bool at(char c) {
    ws();
    return pos_ < s_.size() && s_[pos_] == c;
  }
  void expect(char c) {
    if (!at(c)) syntax(std::string("expected '") + c + "'");
    ++pos_;
  }
  bool done() {
    ws();
    return pos_ == s_.size();
  }
  std::string string() {
    if (!at('"')) syntax("expected a string");
    const size_t start = pos_++;
    bool escaped = false;
    for (;;) {
      if (pos_ >= s_.size()) syntax("unterminated string");
      const char c = s_[pos_++];
      if (c == '"') break;
      if (static_cast<unsigned char>(c) < 0x20) syntax("control character in string");
      if (c == '\\') {
        escaped = true;
        if (pos_ < s_.size()) ++pos_;
      }
    }
    if (!escaped) return std::string(s_.substr(start + 1, pos_ - start - 2));
    try {
      return Json::parse(s_.substr(start, pos_ - start)).as_string();
    } catch (const std::invalid_argument& e) {
      syntax(e.what());
    }
  }
  // A non-negative integer written as plain digits; false for anything else
  // that is a valid JSON value (which is then skipped).
  bool uint(int64_t* out) {
    ws();
    const size_t start = pos_;
    uint64_t v = 0;
    while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') {
      if (v > (uint64_t(INT64_MAX) - 9) / 10) {
        pos_ = start;
        skip();
        return false;
      }
      v = v * 10 + uint64_t(s_[pos_++] - '0');
    }
    const bool plain = pos_ > start && (pos_ - start == 1 || s_[start] != '0') &&
                       (pos_ == s_.size() || (s_[pos_] != '.' && s_[pos_] != 'e' && s_[pos_] != 'E'));
    if (!plain) {
      pos_ = start;
      skip();
      return false;
    }
    *out = static_cast<int64_t>(v);
    return true;
  }
  // Skips one value and returns it parsed (rare paths only).
  Json skip() {
    ws();
    const size_t start = pos_;
    int depth = 0;
    bool in_string = false;
    for (; pos_ < s_.size(); ++pos_) {
      const char c = s_[pos_];
      if (in_string) {
        if (c == '\\')
          ++pos_;
        else if (c == '"')
          in_string = false;
        continue;
      }
      if (c == '"')
        in_string = true;
      else if (c == '{' || c == '[')
        ++depth;
      else if (c == '}' || c == ']') {
        if (depth == 0) break;
        --depth;
      } else if (c == ',' && depth == 0)
        break;
    }
    try {
      return Json::parse(s_.substr(start, pos_ - start), 8);
    } catch (const std::invalid_argument& e) {
      syntax(e.what());
    }
  }

 private:
  std::string_view s_;
  const std::string& path_;
  size_t pos_ = 0;
};

}  // namespace

TensorFile parse_safetensors(const uint8_t* data, uint64_t size, std::shared_ptr<void> owner, const std::string& path) {
  if (size < 8) bad(path, "file is " + std::to_string(size) + " bytes, too short for the 8-byte header length");
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | data[i];
  if (header_len > kMaxHeaderBytes) bad(path, "header length " + std::to_string(header_len) + " exceeds the 100 MB limit");
  if (header_len > size - 8)
    bad(path,
        "header length " + std::to_string(header_len) + " runs past the end of the " + std::to_string(size) + "-byte file (truncated?)");
  HeaderScanner sc(std::string_view(reinterpret_cast<const char*>(data + 8), header_len), path);
  if (!sc.at('{')) {
    if (sc.done()) bad(path, "header is empty");
    sc.skip();
    bad(path, "header is not a JSON object");
  }

  const uint64_t data_start = 8 + header_len;
  const uint64_t data_size = size - data_start;
  TensorFile out;
  out.path = path;
  out.format = "safetensors";
  out.file_size = size;
  struct Span {
    uint64_t begin, end;
    size_t index;
  };
  std::vector<Span> spans;

  // Rough entry count (each takes > 40 header bytes), capped: the vectors grow if needed.
  const size_t guess = static_cast<size_t>(std::min<uint64_t>(header_len / 48, 1u << 18));
  out.tensors.reserve(guess);
  spans.reserve(guess);
  sc.expect('{');
  bool first = true;
  while (!sc.at('}')) {
    if (!first) sc.expect(',');
    first = false;
    std::string name = sc.string();
    sc.expect(':');
    if (name == "__metadata__") {
      Json meta = sc.skip();
      if (!meta.is_object()) bad(path, "__metadata__ is not an object");
      for (const auto& [k, v] : meta.members()) {
        if (!v.is_string()) bad(path, "__metadata__ value for \"" + k + "\" is not a string");
        out.metadata[k] = v.as_string();
      }
      continue;
    }
    // Built only for error messages.
    auto where = [&name] { return "tensor \"" + name + "\""; };
    if (!sc.at('{')) {
      sc.skip();
      bad(path, where() + " is not an object");
    }
    sc.expect('{');
    std::string dtype_str;
    bool has_dtype = false, has_shape = false, has_offsets = false, offsets_ok = true, shape_ok = true;
    Shape shape;
    int64_t off[2] = {0, 0};
    int n_off = 0;
    for (bool f = true; !sc.at('}'); f = false) {
      if (!f) sc.expect(',');
      std::string key = sc.string();
      sc.expect(':');
      if (key == "dtype") {
        if (has_dtype) sc.syntax("duplicate key \"dtype\"");
        has_dtype = sc.at('"');
        if (has_dtype)
          dtype_str = sc.string();
        else
          sc.skip();
      } else if (key == "shape" || key == "data_offsets") {
        const bool is_shape = key == "shape";
        if (is_shape ? has_shape : has_offsets) sc.syntax("duplicate key \"" + key + "\"");
        (is_shape ? has_shape : has_offsets) = sc.at('[');
        if (!sc.at('[')) {
          sc.skip();
          continue;
        }
        sc.expect('[');
        for (bool g = true; !sc.at(']'); g = false) {
          if (!g) sc.expect(',');
          int64_t v;
          const bool ok = sc.uint(&v);
          if (is_shape) {
            shape_ok = shape_ok && ok;
            if (ok) shape.push_back(v);
            if (shape.size() > 8) bad(path, where() + " has more than 8 dimensions");
          } else {
            offsets_ok = offsets_ok && ok;
            if (ok && n_off < 2) off[n_off] = v;
            ++n_off;
          }
        }
        sc.expect(']');
      } else {
        sc.skip();
      }
    }
    sc.expect('}');

    if (!has_dtype) bad(path, where() + " has no dtype string");
    DType dtype;
    if (!parse_dtype(dtype_str, &dtype)) {
      if (starts_with(dtype_str, "F8_"))
        fail(ErrorCode::ModelUnsupported, path + ": " + where() + " uses dtype " + dtype_str + ", which sd-native does not read yet");
      bad(path, where() + " has unknown dtype \"" + dtype_str + "\"");
    }
    if (!has_shape) bad(path, where() + " has no shape array");
    if (!shape_ok) bad(path, where() + " has a shape entry that is not a non-negative integer");
    const int64_t numel = shape_numel(shape);
    const int64_t nbytes = numel < 0 ? -1 : dtype_bytes_for(dtype, numel);
    if (nbytes < 0) bad(path, where() + " shape " + shape_str(shape) + " overflows");
    if (!has_offsets || n_off != 2) bad(path, where() + " has no [begin, end] data_offsets");
    if (!offsets_ok) bad(path, where() + " has data_offsets that are not non-negative integers");
    const int64_t b = off[0], e = off[1];
    if (b > e) bad(path, where() + " has data_offsets begin " + std::to_string(b) + " > end " + std::to_string(e));
    if (static_cast<uint64_t>(e) > data_size)
      bad(path,
          where() + " data_offsets end " + std::to_string(e) + " lies beyond the data section (" + std::to_string(data_size) + " bytes)");
    if (e - b != nbytes)
      bad(path, where() + " shape " + shape_str(shape) + " (" + dtype_str + ") needs " + std::to_string(nbytes) +
                    " bytes but data_offsets span " + std::to_string(e - b));
    spans.push_back({static_cast<uint64_t>(b), static_cast<uint64_t>(e), out.tensors.size()});
    void* ptr = const_cast<uint8_t*>(data + data_start + b);
    out.tensors.emplace_back(std::move(name), Tensor(dtype, std::move(shape), ptr, owner));
  }
  sc.expect('}');
  if (!sc.done()) sc.syntax("trailing characters after the header object");

  // Names must be unique.
  std::vector<const std::string*> names;
  names.reserve(out.tensors.size());
  for (const auto& t : out.tensors) names.push_back(&t.first);
  std::sort(names.begin(), names.end(), [](const std::string* a, const std::string* b) { return *a < *b; });
  for (size_t i = 1; i < names.size(); ++i)
    if (*names[i] == *names[i - 1]) bad(path, "header is not valid JSON (duplicate key \"" + *names[i] + "\")");

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
