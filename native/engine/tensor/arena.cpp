#include "tensor/arena.h"

#include <algorithm>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "core/error.h"
#include "tensor/aligned_memory.h"

namespace sd {

struct Arena::State {
  std::mutex mu;
  std::map<size_t, std::vector<void*>> free_blocks;  // by block size
  Stats st;

  static void* sys_alloc(size_t bytes) { return aligned_alloc64(bytes); }
  static void sys_free(void* p) { aligned_free64(p); }

  void release(void* p, size_t bytes) {
    std::lock_guard<std::mutex> lk(mu);
    free_blocks[bytes].push_back(p);
    st.in_use -= int64_t(bytes);
  }

  ~State() { trim_locked(); }

  void trim_locked() {
    for (auto& kv : free_blocks)
      for (void* p : kv.second) {
        sys_free(p);
        st.reserved -= int64_t(kv.first);
      }
    free_blocks.clear();
  }
};

Arena::Arena() : s_(std::make_shared<State>()) {}

Arena::~Arena() {
  std::lock_guard<std::mutex> lk(s_->mu);
  s_->trim_locked();
}

Tensor Arena::empty(DType dtype, const Shape& shape) {
  const int64_t n = shape_numel(shape);
  const int64_t bytes = n < 0 ? -1 : dtype_bytes_for(dtype, n);
  if (bytes < 0) fail(ErrorCode::InvalidOption, "tensor shape " + shape_str(shape) + " is invalid for " + dtype_name(dtype));
  const size_t block = std::max<size_t>(4096, (size_t(bytes) + 4095) & ~size_t(4095));  // page-rounded size class
  void* p = nullptr;
  {
    std::lock_guard<std::mutex> lk(s_->mu);
    auto it = s_->free_blocks.find(block);
    if (it != s_->free_blocks.end() && !it->second.empty()) {
      p = it->second.back();
      it->second.pop_back();
    }
  }
  if (!p) {
    p = State::sys_alloc(block);
    if (!p) {
      std::lock_guard<std::mutex> lk(s_->mu);
      s_->trim_locked();  // give cached blocks back and retry once
      p = State::sys_alloc(block);
    }
    if (!p)
      fail(ErrorCode::OutOfMemory, "could not allocate " + std::to_string(bytes) + " bytes for a tensor of shape " + shape_str(shape));
    std::lock_guard<std::mutex> lk(s_->mu);
    s_->st.reserved += int64_t(block);
    s_->st.peak_reserved = std::max(s_->st.peak_reserved, s_->st.reserved);
  }
  {
    std::lock_guard<std::mutex> lk(s_->mu);
    s_->st.in_use += int64_t(block);
    s_->st.peak_in_use = std::max(s_->st.peak_in_use, s_->st.in_use);
  }
  std::shared_ptr<State> state = s_;
  // Blocks released after the Arena is gone are freed with the last
  // reference to the state (~State).
  std::shared_ptr<void> owner(p, [state, block](void* q) { state->release(q, block); });
  return Tensor(dtype, shape, p, std::move(owner));
}

Arena::Stats Arena::stats() const {
  std::lock_guard<std::mutex> lk(s_->mu);
  return s_->st;
}

void Arena::reset_peak() {
  std::lock_guard<std::mutex> lk(s_->mu);
  s_->st.peak_in_use = s_->st.in_use;
  s_->st.peak_reserved = s_->st.reserved;
}

void Arena::trim() {
  std::lock_guard<std::mutex> lk(s_->mu);
  s_->trim_locked();
}

}  // namespace sd
