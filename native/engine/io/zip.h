// A read-only zip archive over a memory-mapped file, enough for PyTorch's
// torch.save format: stored (uncompressed) entries, zip64 sizes/offsets.
// The central directory and every local header are validated before any
// entry is handed out, so entry data always lies inside the file.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace sd {

struct ZipEntry {
  std::string name;
  uint64_t data_offset = 0;  // first byte of the entry's data in the file
  uint64_t size = 0;         // stored size in bytes
  uint64_t uncompressed_size = 0;
  uint32_t crc32 = 0;
  uint16_t method = 0;  // 0 = stored
};

// Parses the central directory of `data[0, size)`. Throws ERR_MODEL_FORMAT
// naming `path`, the entry and the offset when the archive is malformed or
// truncated.
std::vector<ZipEntry> read_zip_directory(const uint8_t* data, uint64_t size, const std::string& path);

// True if the buffer starts like a zip archive (local header signature).
bool looks_like_zip(const uint8_t* data, uint64_t size);

// CRC-32 (IEEE 802.3, as zip uses).
uint32_t crc32(const uint8_t* data, uint64_t size);

}  // namespace sd
