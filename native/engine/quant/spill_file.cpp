#include "quant/spill_file.h"

#include <cstdlib>
#include <vector>

#if defined(__unix__) || defined(__APPLE__)
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/vfs.h>
#endif
#define SD_SPILL_POSIX 1
#endif

namespace sd {
namespace quant {

#if defined(SD_SPILL_POSIX)
namespace {

constexpr int64_t kAlign = 64;

// True when `dir` exists and is not a memory file system.
bool disk_backed(const std::string& dir) {
  struct stat st;
  if (dir.empty() || stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return false;
#if defined(__linux__)
  struct statfs fs;
  constexpr long kTmpfsMagic = 0x01021994, kRamfsMagic = 0x858458f6;
  if (statfs(dir.c_str(), &fs) != 0 || long(fs.f_type) == kTmpfsMagic || long(fs.f_type) == kRamfsMagic) return false;
#endif
  return true;
}

// A new, already unlinked file in dir; -1 on failure.
int unlinked_file(const std::string& dir) {
#if defined(O_TMPFILE)
  const int fd = ::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd >= 0) return fd;
#endif
  std::string path = dir + "/sd-native-weights-XXXXXX";
  std::vector<char> buf(path.begin(), path.end());
  buf.push_back('\0');
  const int fd2 = mkstemp(buf.data());
  if (fd2 >= 0) ::unlink(buf.data());
  return fd2;
}

}  // namespace

std::unique_ptr<SpillFile> SpillFile::open() {
  const char* off = std::getenv("SD_NATIVE_QUANT_SPILL");
  if (off && std::string(off) == "0") return nullptr;
  std::vector<std::string> dirs;
  for (const char* env : {"SD_NATIVE_SPILL_DIR", "TMPDIR"})
    if (const char* v = std::getenv(env)) dirs.emplace_back(v);
  dirs.emplace_back("/var/tmp");
  dirs.emplace_back("/tmp");
  for (const std::string& d : dirs) {
    if (!disk_backed(d)) continue;
    const int fd = unlinked_file(d);
    if (fd >= 0) return std::unique_ptr<SpillFile>(new SpillFile(fd, d));
  }
  return nullptr;
}

SpillFile::~SpillFile() {
  if (fd_ >= 0) ::close(fd_);
}

int64_t SpillFile::append(const Tensor& t) {
  if (failed_) return -1;
  const int64_t at = (size_ + kAlign - 1) / kAlign * kAlign;
  const char* p = static_cast<const char*>(t.data());
  int64_t done = 0;
  while (done < t.nbytes()) {
    const ssize_t n = ::pwrite(fd_, p + done, size_t(t.nbytes() - done), off_t(at + done));
    if (n <= 0) {
      failed_ = true;  // e.g. ENOSPC: the caller keeps this tensor on the heap
      return -1;
    }
    done += n;
  }
  size_ = at + t.nbytes();
  return at;
}

std::shared_ptr<void> SpillFile::map() {
  if (size_ == 0) return nullptr;
  void* base = ::mmap(nullptr, size_t(size_), PROT_READ, MAP_PRIVATE, fd_, 0);
  if (base == MAP_FAILED) return nullptr;
  const size_t len = size_t(size_);
  return std::shared_ptr<void>(base, [len](void* q) { ::munmap(q, len); });
}

#else  // no POSIX files: converted weights stay on the heap

std::unique_ptr<SpillFile> SpillFile::open() { return nullptr; }
SpillFile::~SpillFile() = default;
int64_t SpillFile::append(const Tensor&) { return -1; }
std::shared_ptr<void> SpillFile::map() { return nullptr; }

#endif

}  // namespace quant
}  // namespace sd
