#include "tensor/aligned_memory.h"

#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <vector>
#if defined(_WIN32)
#include <malloc.h>
#else
#include <sys/mman.h>
#endif

// Under AddressSanitizer every block comes from the heap, so ASan keeps
// checking bounds and use after free of large blocks too; on Windows (no
// mmap) likewise.
#if defined(__SANITIZE_ADDRESS__)
#define SD_LARGE_BLOCKS_FROM_HEAP 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SD_LARGE_BLOCKS_FROM_HEAP 1
#endif
#endif
#if defined(_WIN32) && !defined(SD_LARGE_BLOCKS_FROM_HEAP)
#define SD_LARGE_BLOCKS_FROM_HEAP 1
#endif

namespace sd {

#if defined(SD_LARGE_BLOCKS_FROM_HEAP)

void* aligned_alloc64(size_t bytes) {
  if (bytes == 0) bytes = 64;
#if defined(_WIN32)
  return _aligned_malloc(bytes, 64);
#else
  void* p = nullptr;
  return posix_memalign(&p, 64, bytes) == 0 ? p : nullptr;
#endif
}

void aligned_free64(void* p) {
#if defined(_WIN32)
  _aligned_free(p);
#else
  std::free(p);
#endif
}

bool large_blocks_are_mappings() { return false; }
void release_cached_blocks() {}

#else

namespace {

// Every block starts with a 64-byte header that records how it was made: 0
// for a heap block, else the size of its private mapping.
constexpr size_t kHeader = 64;
constexpr size_t kLargeBytes = size_t(1) << 20;   // from here on, blocks are mappings
constexpr size_t kGranule = size_t(64) << 10;     // mapping sizes round up to this
constexpr size_t kCacheBytes = size_t(32) << 20;  // freed mappings kept for reuse, at most

// Freed mappings kept (still resident) for an allocation of the same size:
// the U-Net asks for the same few activation sizes over and over, and a
// fresh mapping costs a page fault and a zeroed page per 4 KB. Bounded, so
// at most kCacheBytes of freed memory stays resident (glibc's arenas kept
// 60-100 MB of freed activations at 512x512, out of reach of its trim).
class MappingCache {
 public:
  void* take(size_t bytes) {
    std::lock_guard<std::mutex> lock(mu_);
    for (size_t i = free_.size(); i-- > 0;) {  // newest first: its pages are the likeliest in cache
      if (free_[i].bytes != bytes) continue;
      void* p = free_[i].base;
      cached_ -= bytes;
      free_.erase(free_.begin() + std::ptrdiff_t(i));
      return p;
    }
    return nullptr;
  }

  void put(void* base, size_t bytes) {
    std::vector<Block> evicted;
    {
      std::lock_guard<std::mutex> lock(mu_);
      free_.push_back({base, bytes});
      cached_ += bytes;
      size_t n = 0;  // oldest first
      while (cached_ > kCacheBytes) {
        cached_ -= free_[n].bytes;
        evicted.push_back(free_[n++]);
      }
      free_.erase(free_.begin(), free_.begin() + std::ptrdiff_t(n));
    }
    for (const Block& b : evicted) munmap(b.base, b.bytes);
  }

  void clear() {
    std::vector<Block> all;
    {
      std::lock_guard<std::mutex> lock(mu_);
      all.swap(free_);
      cached_ = 0;
    }
    for (const Block& b : all) munmap(b.base, b.bytes);
  }

 private:
  struct Block {
    void* base;
    size_t bytes;
  };
  std::mutex mu_;
  std::vector<Block> free_;  // oldest first
  size_t cached_ = 0;
};

MappingCache& mapping_cache() {
  static MappingCache* cache = new MappingCache;  // never destroyed: blocks may be freed during exit
  return *cache;
}

void* map_block(size_t bytes) {
  const size_t mapped = (bytes + kHeader + kGranule - 1) / kGranule * kGranule;
  void* base = mapping_cache().take(mapped);
  if (!base) {
    base = mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED) return nullptr;
  }
  *static_cast<size_t*>(base) = mapped;
  return static_cast<char*>(base) + kHeader;
}

}  // namespace

void* aligned_alloc64(size_t bytes) {
  if (bytes >= kLargeBytes) return map_block(bytes);
  void* base = nullptr;
  if (posix_memalign(&base, 64, bytes + kHeader) != 0) return nullptr;
  *static_cast<size_t*>(base) = 0;
  return static_cast<char*>(base) + kHeader;
}

void aligned_free64(void* p) {
  if (!p) return;
  void* base = static_cast<char*>(p) - kHeader;
  const size_t mapped = *static_cast<size_t*>(base);
  if (mapped == 0)
    std::free(base);
  else if (mapped <= kCacheBytes)
    mapping_cache().put(base, mapped);
  else
    munmap(base, mapped);
}

bool large_blocks_are_mappings() { return true; }
void release_cached_blocks() { mapping_cache().clear(); }

#endif

}  // namespace sd
