#include "io/mapped_file.h"

#include <cerrno>
#include <cstring>

#include "core/error.h"
#include "io/file_path.h"

#if defined(_WIN32)
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#else
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#endif

namespace sd {

#if defined(_WIN32)
std::shared_ptr<MappedFile> MappedFile::open(const std::string& path) {
  std::shared_ptr<MappedFile> f(new MappedFile());
  f->path_ = path;
  const std::wstring wpath = fs_path(path).wstring();  // UTF-8 -> UTF-16
  // FILE_SHARE_DELETE: like a POSIX mapping, a loaded model does not stop the
  // file from being renamed (or deleted, where Windows allows it for a mapped file).
  HANDLE h =
      CreateFileW(wpath.c_str(), GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_DELETE, nullptr, OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, nullptr);
  if (h == INVALID_HANDLE_VALUE) {
    DWORD err = GetLastError();
    if (err == ERROR_FILE_NOT_FOUND || err == ERROR_PATH_NOT_FOUND) fail(ErrorCode::ModelNotFound, "no such file: " + path);
    fail(ErrorCode::Io, "cannot open " + path + " (Windows error " + std::to_string(err) + ")");
  }
  f->file_ = h;
  LARGE_INTEGER sz;
  GetFileSizeEx(h, &sz);
  f->size_ = static_cast<uint64_t>(sz.QuadPart);
  if (f->size_ > 0) {
    HANDLE m = CreateFileMappingW(h, nullptr, PAGE_READONLY, 0, 0, nullptr);
    if (!m) fail(ErrorCode::Io, "cannot map " + path);
    f->mapping_ = m;
    f->data_ = static_cast<const uint8_t*>(MapViewOfFile(m, FILE_MAP_READ, 0, 0, 0));
    if (!f->data_) fail(ErrorCode::Io, "cannot map " + path);
  }
  return f;
}

MappedFile::~MappedFile() {
  if (data_) UnmapViewOfFile(data_);
  if (mapping_) CloseHandle(mapping_);
  if (file_) CloseHandle(file_);
}
#else
std::shared_ptr<MappedFile> MappedFile::open(const std::string& path) {
  std::shared_ptr<MappedFile> f(new MappedFile());
  f->path_ = path;
  // O_NONBLOCK: opening a FIFO would otherwise wait for a writer; fstat then refuses it.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    int err = errno;
    if (err == ENOENT || err == ENOTDIR) fail(ErrorCode::ModelNotFound, "no such file: " + path);
    fail(ErrorCode::Io, "cannot open " + path + ": " + std::strerror(err));
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    fail(ErrorCode::Io, path + " is not a regular file");
  }
  f->size_ = static_cast<uint64_t>(st.st_size);
  if (f->size_ > 0) {
    void* p = mmap(nullptr, f->size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      int err = errno;
      ::close(fd);
      fail(ErrorCode::Io, "cannot map " + path + ": " + std::strerror(err));
    }
    f->data_ = static_cast<const uint8_t*>(p);
  }
  ::close(fd);
  return f;
}

MappedFile::~MappedFile() {
  if (data_) munmap(const_cast<uint8_t*>(data_), size_);
}
#endif

}  // namespace sd
