// Caching allocator for activations. Tensors it hands out return their block
// to the arena when the last reference goes away; blocks are reused by exact
// (page-rounded) size, which suits eager execution where every sampler step
// allocates the same shapes: after the first step no page is faulted in
// again. Reports bytes in use and their peak (the activation high-water mark).
// Thread-safe. Tensors may outlive the Arena object (the state is shared).
#pragma once
#include <cstdint>
#include <memory>

#include "tensor/tensor.h"

namespace sd {

class Arena {
 public:
  struct Stats {
    int64_t in_use = 0;         // bytes held by live tensors
    int64_t peak_in_use = 0;    // high-water mark of in_use since the last reset_peak()
    int64_t reserved = 0;       // in_use + cached free blocks
    int64_t peak_reserved = 0;  // high-water mark of reserved
  };

  Arena();
  ~Arena();
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;

  // Like Tensor::empty (64-byte aligned, uninitialised); throws
  // ERR_OUT_OF_MEMORY when the system cannot provide the block.
  Tensor empty(DType dtype, const Shape& shape);
  Stats stats() const;
  void reset_peak();
  // Frees the cached (unused) blocks.
  void trim();

  struct State;

 private:
  std::shared_ptr<State> s_;
};

}  // namespace sd
