// Internal: argument validation and output allocation shared by the op
// implementations. A shape or
// dtype the op cannot take is a bug in the calling model code or a malformed
// weight that slipped past the loader, so it raises a typed sd::Error.
#pragma once
#include <chrono>
#include <string>
#include <vector>

#include "core/error.h"
#include "kernels/ops.h"
#include "tensor/arena.h"
#include "tensor/tensor.h"

namespace sd {
namespace kern {

inline void require(bool ok, const char* op, const std::string& what) {
  if (!ok) fail(ErrorCode::Internal, std::string(op) + ": " + what);
}

// Activations: contiguous f32.
inline void require_act(const Tensor& t, const char* op, const char* name) {
  require(t.dtype() == DType::F32, op, std::string(name) + " must be f32, got " + dtype_name(t.dtype()));
  require(t.data() != nullptr || t.numel() == 0, op, std::string(name) + " is undefined");
  require(t.is_contiguous(), op, std::string(name) + " must be contiguous");
}

// Weights: f32 / f16 / bf16, contiguous.
inline void require_weight(const Tensor& t, const char* op, const char* name) {
  DType d = t.dtype();
  if (d != DType::F32 && d != DType::F16 && d != DType::BF16)
    fail(ErrorCode::ModelUnsupported, std::string(op) + ": " + name + " has dtype " + dtype_name(d) + ", which this kernel does not take");
  require(t.is_contiguous(), op, std::string(name) + " must be contiguous");
}

// Small parameter vectors (bias, gamma, beta) as f32.
inline std::vector<float> param_f32(const Tensor& t, const char* op, const char* name, int64_t expect) {
  require_weight(t, op, name);
  require(t.numel() == expect, op,
          std::string(name) + " has shape " + shape_str(t.shape()) + ", expected " + std::to_string(expect) + " elements");
  Tensor f = t.to_f32();
  const float* p = f.data_as<float>();
  return std::vector<float>(p, p + expect);
}

// Adds the lifetime of this object to c.timers (if any) under `op`.
class OpTimer {
 public:
  OpTimer(Compute& c, OpTimers::Op op) : t_(c.timers), op_(op) {
    if (t_) start_ = std::chrono::steady_clock::now();
  }
  ~OpTimer() {
    if (!t_) return;
    t_->seconds[op_] += std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    t_->calls[op_] += 1;
  }
  OpTimer(const OpTimer&) = delete;
  OpTimer& operator=(const OpTimer&) = delete;

 private:
  OpTimers* t_;
  OpTimers::Op op_;
  std::chrono::steady_clock::time_point start_;
};

// New f32 tensor for an op's output or a temporary: from the Compute's
// arena when it has one (reused blocks, measured peak), else the heap.
inline Tensor new_tensor(Compute& c, const Shape& shape) {
  return c.arena ? c.arena->empty(DType::F32, shape) : Tensor::empty(DType::F32, shape);
}

}  // namespace kern
}  // namespace sd
