// How the C heap hands activation memory back to the OS (glibc only).
//
// The pipeline allocates activations from the heap (see generate.cpp). With
// glibc's default, dynamic thresholds (blocks up to 32 MB come from the
// worker thread's arena, which keeps up to 64 MB free at its top), the U-Net's
// many 10-32 MB activations left the arena at ~3x its live size: at 512x512
// the denoise stage held 430-460 MB anonymous memory for ~170 MB live.
// Fixed 16 MB thresholds send the largest blocks straight to mmap (returned
// on free) and trim the arena sooner: -115 MB peak RSS at 512x512 for
// ~1.5% more CPU (page faults when those blocks are reused).
#pragma once

namespace sd {

// Sets the thresholds once per process (they are process-wide: the host's
// own mallocs above 16 MB are mmapped too). Elsewhere: nothing.
void apply_heap_policy();

// Returns the heap's free pages to the OS (malloc_trim) between stages, so
// memory a finished stage no longer uses is not resident during the next.
void release_free_heap();

}  // namespace sd
