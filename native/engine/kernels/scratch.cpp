#include "kernels/scratch.h"

#include <cstdlib>
#include <memory>
#include <string>

#include "core/error.h"
#include "tensor/aligned_memory.h"

namespace sd {
namespace kern {
namespace {

struct Buf {
  float* p = nullptr;
  size_t cap = 0;
  ~Buf() { aligned_free64(p); }
};
thread_local Buf tl_bufs[kNumSlots];

}  // namespace

float* scratch(int slot, size_t floats) {
  Buf& b = tl_bufs[slot];
  if (floats <= b.cap) return b.p;
  aligned_free64(b.p);
  b.p = nullptr;
  b.cap = 0;
  size_t bytes = ((floats * sizeof(float)) + 63) & ~size_t(63);
  void* p = aligned_alloc64(bytes);
  if (!p) fail(ErrorCode::OutOfMemory, "could not allocate " + std::to_string(bytes) + " bytes of kernel scratch");
  b.p = static_cast<float*>(p);
  b.cap = floats;
  return b.p;
}

}  // namespace kern
}  // namespace sd
