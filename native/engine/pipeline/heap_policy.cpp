#include "pipeline/heap_policy.h"

#include "tensor/aligned_memory.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace sd {

void release_free_heap() {
  release_cached_blocks();
#if defined(__GLIBC__)
  malloc_trim(0);
#endif
}

}  // namespace sd
