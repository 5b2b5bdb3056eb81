// A tensor: dtype, shape (outermost first, as PyTorch), element strides, and
// a pointer into storage kept alive by a shared owner (an mmapped file, a heap
// buffer or an arena). Weights are usually views into a mapped file.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tensor/dtype.h"

namespace sd {

using Shape = std::vector<int64_t>;

std::string shape_str(const Shape& s);  // "[2, 4, 64, 64]"
int64_t shape_numel(const Shape& s);    // -1 on overflow or negative dims

class Tensor {
 public:
  Tensor() = default;
  // View over existing memory (contiguous), kept alive by `owner`.
  Tensor(DType dtype, Shape shape, void* data, std::shared_ptr<void> owner);

  // New zero-filled contiguous buffer, 64-byte aligned. Throws
  // ERR_OUT_OF_MEMORY on allocation failure.
  static Tensor zeros(DType dtype, const Shape& shape);
  static Tensor empty(DType dtype, const Shape& shape);

  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  const Shape& strides() const { return strides_; }
  int dim() const { return static_cast<int>(shape_.size()); }
  int64_t size(int i) const { return shape_[i < 0 ? i + dim() : i]; }
  int64_t numel() const;
  int64_t nbytes() const;  // bytes spanned (contiguous)
  bool defined() const { return data_ != nullptr || numel() == 0; }
  bool is_contiguous() const;

  void* data() const { return data_; }
  template <typename T>
  T* data_as() const {
    return static_cast<T*>(data_);
  }
  const std::shared_ptr<void>& owner() const { return owner_; }

  // Same storage, new shape with the same element count (contiguous only).
  Tensor reshape(const Shape& shape) const;
  // Rows [begin, end) of the outermost dimension, as a view (contiguous only).
  Tensor slice_rows(int64_t begin, int64_t end) const;
  // Converts any float dtype (f32/f16/bf16/f64) to a new contiguous f32 tensor.
  Tensor to_f32() const;

 private:
  DType dtype_ = DType::F32;
  Shape shape_;
  Shape strides_;
  void* data_ = nullptr;
  std::shared_ptr<void> owner_;
};

}  // namespace sd
