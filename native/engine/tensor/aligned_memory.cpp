#include "tensor/aligned_memory.h"

#include <cstdlib>
#if defined(_WIN32)
#include <malloc.h>
#endif

namespace sd {

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

}  // namespace sd
