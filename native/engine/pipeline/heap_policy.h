// How memory a finished pipeline stage freed goes back to the OS.
//
// Activations of 1 MiB and more are private mappings with a bounded reuse
// cache (tensor/aligned_memory.h); smaller blocks come from the C heap.
// Between stages both are handed back, so memory a finished stage no longer
// uses is not resident during the next. (Until session 6 the engine set
// glibc's M_MMAP_THRESHOLD / M_TRIM_THRESHOLD to 16 MB for the whole
// process instead; with the mappings that no longer made a difference, so
// the host's malloc settings are left alone.)
#pragma once

namespace sd {

// Unmaps the cached free mappings and, with glibc, returns the heap's free
// pages (malloc_trim).
void release_free_heap();

}  // namespace sd
