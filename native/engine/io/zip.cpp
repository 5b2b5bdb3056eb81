#include "io/zip.h"

#include <algorithm>
#include <set>

#include "core/error.h"

namespace sd {

namespace {

constexpr uint32_t kLocalSig = 0x04034b50, kCentralSig = 0x02014b50, kEndSig = 0x06054b50;
constexpr uint32_t kZip64EndSig = 0x06064b50, kZip64LocatorSig = 0x07064b50;
constexpr uint64_t kEndSize = 22, kCentralSize = 46, kLocalSize = 30;

uint16_t u16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
uint32_t u32(const uint8_t* p) { return uint32_t(p[0]) | (uint32_t(p[1]) << 8) | (uint32_t(p[2]) << 16) | (uint32_t(p[3]) << 24); }
uint64_t u64(const uint8_t* p) { return uint64_t(u32(p)) | (uint64_t(u32(p + 4)) << 32); }

[[noreturn]] void bad(const std::string& path, const std::string& what) {
  fail(ErrorCode::ModelFormat, path + ": not a valid zip archive: " + what);
}

}  // namespace

bool looks_like_zip(const uint8_t* data, uint64_t size) { return size >= 4 && u32(data) == kLocalSig; }

uint32_t crc32(const uint8_t* data, uint64_t size) {
  static const auto table = [] {
    std::vector<uint32_t> t(256);
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  uint32_t c = 0xFFFFFFFFu;
  for (uint64_t i = 0; i < size; ++i) c = table[(c ^ data[i]) & 0xff] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

std::vector<ZipEntry> read_zip_directory(const uint8_t* data, uint64_t size, const std::string& path) {
  if (size < kEndSize) bad(path, "file is " + std::to_string(size) + " bytes, too short for a zip archive");
  // The end record sits in the last 22 + (up to 65535 comment) bytes.
  uint64_t end = UINT64_MAX;
  const uint64_t lowest = size - kEndSize > 65535 ? size - kEndSize - 65535 : 0;
  for (uint64_t p = size - kEndSize + 1; p-- > lowest;) {
    if (u32(data + p) == kEndSig && p + kEndSize + u16(data + p + 20) == size) {
      end = p;
      break;
    }
  }
  if (end == UINT64_MAX) bad(path, "no end-of-central-directory record (truncated file?)");
  const uint8_t* e = data + end;
  if (u16(e + 4) != 0 || u16(e + 6) != 0) fail(ErrorCode::ModelUnsupported, path + ": multi-disk zip archives are not supported");
  uint64_t count = u16(e + 10), cd_size = u32(e + 12), cd_offset = u32(e + 16);
  uint64_t cd_limit = end;  // the central directory must end before this
  if (count == 0xFFFF || cd_size == 0xFFFFFFFFu || cd_offset == 0xFFFFFFFFu) {
    if (end < 20 || u32(data + end - 20) != kZip64LocatorSig)
      bad(path, "zip64 sizes without a zip64 locator before offset " + std::to_string(end));
    const uint64_t z = u64(data + end - 20 + 8);
    if (z > end - 20 || end - 20 - z < 56 || u32(data + z) != kZip64EndSig)
      bad(path, "zip64 end record offset " + std::to_string(z) + " is invalid");
    count = u64(data + z + 32);
    cd_size = u64(data + z + 40);
    cd_offset = u64(data + z + 48);
    cd_limit = z;
  }
  if (cd_offset > cd_limit || cd_size > cd_limit - cd_offset)
    bad(path, "central directory [" + std::to_string(cd_offset) + ", +" + std::to_string(cd_size) + ") lies outside the file");
  if (count > cd_size / kCentralSize)
    bad(path, "central directory claims " + std::to_string(count) + " entries in " + std::to_string(cd_size) + " bytes");

  std::vector<ZipEntry> entries;
  entries.reserve(static_cast<size_t>(count));
  std::set<std::string> names;
  uint64_t p = cd_offset;
  const uint64_t cd_end = cd_offset + cd_size;
  for (uint64_t i = 0; i < count; ++i) {
    const std::string where = "central directory entry " + std::to_string(i) + " at offset " + std::to_string(p);
    if (cd_end - p < kCentralSize || u32(data + p) != kCentralSig) bad(path, where + " has no valid header");
    const uint8_t* c = data + p;
    ZipEntry ent;
    ent.method = u16(c + 10);
    ent.crc32 = u32(c + 16);
    uint64_t csize = u32(c + 20), usize = u32(c + 24), local = u32(c + 42);
    const uint64_t nlen = u16(c + 28), xlen = u16(c + 30), clen = u16(c + 32);
    if (cd_end - p - kCentralSize < nlen + xlen + clen) bad(path, where + " runs past the central directory");
    ent.name.assign(reinterpret_cast<const char*>(c + kCentralSize), nlen);
    // zip64 extra field: the 0xFFFFFFFF fields, in order usize, csize, offset.
    const uint8_t* x = c + kCentralSize + nlen;
    for (uint64_t q = 0; q + 4 <= xlen;) {
      const uint16_t id = u16(x + q), len = u16(x + q + 2);
      if (q + 4 + len > xlen) bad(path, where + " (\"" + ent.name + "\") has a malformed extra field");
      if (id == 0x0001) {
        uint64_t r = q + 4;
        auto take = [&](uint64_t* v) {
          if (*v != 0xFFFFFFFFu) return;
          if (r + 8 > q + 4 + len) bad(path, where + " (\"" + ent.name + "\") has a short zip64 extra field");
          *v = u64(x + r);
          r += 8;
        };
        take(&usize);
        take(&csize);
        take(&local);
      }
      q += 4 + len;
    }
    if (!names.insert(ent.name).second) bad(path, "entry \"" + ent.name + "\" appears twice");
    if (local > cd_offset || cd_offset - local < kLocalSize || u32(data + local) != kLocalSig)
      bad(path, "entry \"" + ent.name + "\" has no local header at offset " + std::to_string(local));
    const uint8_t* l = data + local;
    const uint64_t lnlen = u16(l + 26), lxlen = u16(l + 28);
    if (lnlen != nlen || std::char_traits<char>::compare(reinterpret_cast<const char*>(l + kLocalSize), ent.name.data(), nlen) != 0)
      bad(path, "entry \"" + ent.name + "\": local header name differs from the central directory");
    ent.data_offset = local + kLocalSize + lnlen + lxlen;
    if (ent.data_offset > cd_offset || csize > cd_offset - ent.data_offset)
      bad(path, "entry \"" + ent.name + "\" data [" + std::to_string(ent.data_offset) + ", +" + std::to_string(csize) +
                    ") runs past the start of the central directory (truncated?)");
    if (ent.method == 0 && csize != usize)
      bad(path, "stored entry \"" + ent.name + "\" has size " + std::to_string(csize) + " but uncompressed size " + std::to_string(usize));
    ent.size = csize;
    ent.uncompressed_size = usize;
    entries.push_back(std::move(ent));
    p += kCentralSize + nlen + xlen + clen;
  }
  // Entries must not share bytes.
  std::vector<const ZipEntry*> sorted;
  for (const auto& en : entries) sorted.push_back(&en);
  std::sort(sorted.begin(), sorted.end(), [](const ZipEntry* a, const ZipEntry* b) { return a->data_offset < b->data_offset; });
  for (size_t i = 1; i < sorted.size(); ++i)
    if (sorted[i - 1]->size > 0 && sorted[i - 1]->data_offset + sorted[i - 1]->size > sorted[i]->data_offset - kLocalSize)
      bad(path, "entries \"" + sorted[i - 1]->name + "\" and \"" + sorted[i]->name + "\" overlap");
  return entries;
}

}  // namespace sd
