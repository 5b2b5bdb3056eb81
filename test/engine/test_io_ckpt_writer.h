// Builds PyTorch-style zip checkpoints by hand (there is no torch here): a
// protocol-2 pickle writer for the opcodes torch.save emits and a zip writer
// with stored, 64-byte aligned entries (optionally zip64), as torch.save
// lays them out.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "io/zip.h"

namespace iotest {

class PickleWriter {
 public:
  PickleWriter() { out_ = "\x80\x02"; }  // PROTO 2
  PickleWriter& op(char c) {
    out_ += c;
    return *this;
  }
  PickleWriter& str(const std::string& s) {  // BINUNICODE
    out_ += 'X';
    le(s.size(), 4);
    out_ += s;
    return *this;
  }
  PickleWriter& integer(int64_t v) {
    if (v >= 0 && v < 256) {
      out_ += 'K';
      le(static_cast<uint64_t>(v), 1);
    } else {
      out_ += 'J';
      le(static_cast<uint64_t>(v) & 0xffffffffu, 4);
    }
    return *this;
  }
  PickleWriter& global(const std::string& module, const std::string& name) {
    out_ += 'c' + module + "\n" + name + "\n";
    return *this;
  }
  PickleWriter& mark() { return op('('); }
  PickleWriter& int_tuple(const std::vector<int64_t>& v) {
    mark();
    for (int64_t x : v) integer(x);
    return op('t');
  }
  PickleWriter& empty_ordered_dict() { return global("collections", "OrderedDict").op(')').op('R'); }
  // torch._utils._rebuild_tensor_v2(persistent storage, offset, size, stride, False, OrderedDict())
  PickleWriter& tensor(const std::string& storage_type, const std::string& key, int64_t storage_numel, int64_t offset,
                       const std::vector<int64_t>& size, const std::vector<int64_t>& stride) {
    global("torch._utils", "_rebuild_tensor_v2").mark();
    mark().str("storage").global("torch", storage_type).str(key).str("cpu").integer(storage_numel).op('t').op('Q');
    integer(offset).int_tuple(size).int_tuple(stride).op('\x89').empty_ordered_dict();
    return op('t').op('R');
  }
  std::string finish() { return out_ + "."; }
  std::string& raw() { return out_; }

 private:
  void le(uint64_t v, int n) {
    for (int i = 0; i < n; ++i) out_ += char((v >> (8 * i)) & 0xff);
  }
  std::string out_;
};

inline void put_le(std::string* s, uint64_t v, int n) {
  for (int i = 0; i < n; ++i) *s += char((v >> (8 * i)) & 0xff);
}

// Stored entries; data aligned to 64 bytes through local extra padding.
inline std::string zip_bytes(const std::vector<std::pair<std::string, std::string>>& entries, bool zip64 = false) {
  std::string out, cd;
  for (const auto& [name, data] : entries) {
    const uint64_t local = out.size();
    const uint32_t crc = sd::crc32(reinterpret_cast<const uint8_t*>(data.data()), data.size());
    uint64_t pad = (64 - (local + 30 + name.size() + 4) % 64) % 64;
    out += "PK\x03\x04";
    put_le(&out, 20, 2);
    put_le(&out, 0, 2);  // flags
    put_le(&out, 0, 2);  // stored
    put_le(&out, 0, 4);  // time/date
    put_le(&out, crc, 4);
    put_le(&out, data.size(), 4);
    put_le(&out, data.size(), 4);
    put_le(&out, name.size(), 2);
    put_le(&out, 4 + pad, 2);
    out += name;
    put_le(&out, 0x1234, 2);  // padding extra field
    put_le(&out, pad, 2);
    out += std::string(pad, 'Z');
    out += data;

    cd += "PK\x01\x02";
    put_le(&cd, 20, 2);
    put_le(&cd, 20, 2);
    put_le(&cd, 0, 2);
    put_le(&cd, 0, 2);
    put_le(&cd, 0, 4);
    put_le(&cd, crc, 4);
    put_le(&cd, data.size(), 4);
    put_le(&cd, data.size(), 4);
    put_le(&cd, name.size(), 2);
    put_le(&cd, zip64 ? 12 : 0, 2);
    put_le(&cd, 0, 2);  // comment
    put_le(&cd, 0, 2);  // disk
    put_le(&cd, 0, 2);
    put_le(&cd, 0, 4);
    put_le(&cd, zip64 ? 0xFFFFFFFFu : local, 4);
    cd += name;
    if (zip64) {  // zip64 extra: the local header offset only
      put_le(&cd, 1, 2);
      put_le(&cd, 8, 2);
      put_le(&cd, local, 8);
    }
  }
  const uint64_t cd_offset = out.size();
  out += cd;
  if (zip64) {
    const uint64_t z = out.size();
    out += "PK\x06\x06";
    put_le(&out, 44, 8);
    put_le(&out, 45, 2);
    put_le(&out, 45, 2);
    put_le(&out, 0, 4);
    put_le(&out, 0, 4);
    put_le(&out, entries.size(), 8);
    put_le(&out, entries.size(), 8);
    put_le(&out, cd.size(), 8);
    put_le(&out, cd_offset, 8);
    out += "PK\x06\x07";
    put_le(&out, 0, 4);
    put_le(&out, z, 8);
    put_le(&out, 1, 4);
  }
  out += "PK\x05\x06";
  put_le(&out, 0, 2);
  put_le(&out, 0, 2);
  put_le(&out, zip64 ? 0xFFFF : entries.size(), 2);
  put_le(&out, zip64 ? 0xFFFF : entries.size(), 2);
  put_le(&out, zip64 ? 0xFFFFFFFFu : cd.size(), 4);
  put_le(&out, zip64 ? 0xFFFFFFFFu : cd_offset, 4);
  put_le(&out, 0, 2);
  return out;
}

}  // namespace iotest
