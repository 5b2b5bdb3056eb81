// 64-byte aligned heap blocks (one cache line, the widest SIMD load), the
// one allocation primitive behind tensors, the arena and kernel scratch.
#pragma once
#include <cstddef>

namespace sd {

// nullptr on failure; callers turn that into ERR_OUT_OF_MEMORY.
void* aligned_alloc64(size_t bytes);
// Frees a block from aligned_alloc64 (nullptr is allowed).
void aligned_free64(void* p);

}  // namespace sd
