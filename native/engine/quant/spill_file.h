// Where on-load converted weights live: an unlinked temporary file on disk,
// mapped read-only and private, so they behave like a converted checkpoint's
// mapped weights. The pipeline's release_weight_pages drops their pages
// between stages (the quantized U-Net is not resident during the VAE decode)
// and the kernel may evict them under pressure; both re-fault from the page
// cache or the file. Heap copies could do neither.
//
// Used only where the temporary directory is on disk (not tmpfs, where the
// file would be memory anyway) and SD_NATIVE_QUANT_SPILL is not "0".
// Directory: SD_NATIVE_SPILL_DIR, else TMPDIR, else /var/tmp, else /tmp.
// Any failure (no such directory, disk full) leaves the caller on the heap.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "tensor/tensor.h"

namespace sd {
namespace quant {

class SpillFile {
 public:
  // nullptr when spilling is disabled or no disk-backed directory is usable.
  static std::unique_ptr<SpillFile> open();
  ~SpillFile();
  SpillFile(const SpillFile&) = delete;
  SpillFile& operator=(const SpillFile&) = delete;

  // Appends t's bytes at a 64-byte aligned offset; returns the offset, or -1
  // when the write failed (the file is then no longer appended to).
  int64_t append(const Tensor& t);
  // Maps everything appended so far; the returned owner unmaps it with its
  // last reference. Null when nothing was appended or mapping failed.
  std::shared_ptr<void> map();
  const std::string& directory() const { return dir_; }

 private:
  SpillFile(int fd, std::string dir) : fd_(fd), dir_(std::move(dir)) {}
  int fd_ = -1;
  std::string dir_;
  int64_t size_ = 0;
  bool failed_ = false;
};

}  // namespace quant
}  // namespace sd
