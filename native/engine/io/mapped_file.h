// A read-only memory-mapped file. Weights are views into this mapping; the
// mapping lives as long as any tensor that points into it (shared_ptr owner).
#pragma once
#include <cstdint>
#include <memory>
#include <string>

namespace sd {

class MappedFile {
 public:
  // Throws ERR_MODEL_NOT_FOUND (missing), ERR_IO (unreadable / not a file).
  static std::shared_ptr<MappedFile> open(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  uint64_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  MappedFile() = default;
  std::string path_;
  const uint8_t* data_ = nullptr;
  uint64_t size_ = 0;
#if defined(_WIN32)
  void* file_ = nullptr;
  void* mapping_ = nullptr;
#endif
};

}  // namespace sd
