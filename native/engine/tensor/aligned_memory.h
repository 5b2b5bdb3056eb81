// 64-byte aligned heap blocks (one cache line, the widest SIMD load), the
// one allocation primitive behind tensors, the arena and kernel scratch.
#pragma once
#include <cstddef>

namespace sd {

// nullptr on failure; callers turn that into ERR_OUT_OF_MEMORY.
void* aligned_alloc64(size_t bytes);
// Frees a block from aligned_alloc64 (nullptr is allowed).
void aligned_free64(void* p);

// Blocks of 1 MiB and more are private mappings (POSIX builds without
// AddressSanitizer; elsewhere the heap throughout). Freed ones stay mapped,
// up to 32 MiB in all, for the next block of the same size;
// release_cached_blocks() unmaps them (between pipeline stages).
bool large_blocks_are_mappings();
void release_cached_blocks();

}  // namespace sd
