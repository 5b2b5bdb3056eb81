#include "pipeline/heap_policy.h"

#include <mutex>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace sd {

namespace {
constexpr int kThresholdBytes = 16 << 20;
}  // namespace

void apply_heap_policy() {
#if defined(__GLIBC__)
  static std::once_flag once;
  std::call_once(once, [] {
    mallopt(M_MMAP_THRESHOLD, kThresholdBytes);
    mallopt(M_TRIM_THRESHOLD, kThresholdBytes);
  });
#endif
}

void release_free_heap() {
#if defined(__GLIBC__)
  malloc_trim(0);
#endif
}

}  // namespace sd
