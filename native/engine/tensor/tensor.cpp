#include "tensor/tensor.h"

#include <cstdlib>
#include <limits>
#include <new>

#include "core/error.h"
#include "tensor/aligned_memory.h"

namespace sd {

std::string shape_str(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i) out += ", ";
    out += std::to_string(s[i]);
  }
  return out + "]";
}

int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) {
    if (d < 0) return -1;
    if (d != 0 && n > std::numeric_limits<int64_t>::max() / d) return -1;
    n *= d;
  }
  return n;
}

static Shape contiguous_strides(const Shape& shape) {
  Shape st(shape.size());
  int64_t acc = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    st[i] = acc;
    // An empty tensor may have huge other dimensions (a zero anywhere makes
    // it valid), so the running product can overflow: saturate instead of
    // overflowing (its strides are never used to address anything).
    const int64_t d = shape[i];
    acc = d != 0 && (d < 0 || acc > std::numeric_limits<int64_t>::max() / d) ? std::numeric_limits<int64_t>::max() : acc * d;
  }
  return st;
}

Tensor::Tensor(DType dtype, Shape shape, void* data, std::shared_ptr<void> owner)
    : dtype_(dtype), shape_(std::move(shape)), strides_(contiguous_strides(shape_)), data_(data), owner_(std::move(owner)) {}

Tensor Tensor::empty(DType dtype, const Shape& shape) {
  int64_t n = shape_numel(shape);
  int64_t bytes = n < 0 ? -1 : dtype_bytes_for(dtype, n);
  if (bytes < 0) fail(ErrorCode::InvalidOption, "tensor shape " + shape_str(shape) + " is invalid for " + dtype_name(dtype));
  size_t alloc = (static_cast<size_t>(bytes) + 63) & ~size_t(63);
  if (alloc == 0) alloc = 64;
  void* p = aligned_alloc64(alloc);
  std::shared_ptr<void> owner(p, aligned_free64);
  if (!p) fail(ErrorCode::OutOfMemory, "could not allocate " + std::to_string(bytes) + " bytes for a tensor of shape " + shape_str(shape));
  return Tensor(dtype, shape, p, std::move(owner));
}

Tensor Tensor::zeros(DType dtype, const Shape& shape) {
  Tensor t = empty(dtype, shape);
  std::memset(t.data_, 0, static_cast<size_t>(t.nbytes()));
  return t;
}

int64_t Tensor::numel() const { return shape_numel(shape_); }
int64_t Tensor::nbytes() const { return dtype_bytes_for(dtype_, numel()); }

bool Tensor::is_contiguous() const { return strides_ == contiguous_strides(shape_); }

Tensor Tensor::reshape(const Shape& shape) const {
  if (shape_numel(shape) != numel() || !is_contiguous())
    fail(ErrorCode::Internal, "cannot reshape " + shape_str(shape_) + " to " + shape_str(shape));
  return Tensor(dtype_, shape, data_, owner_);
}

Tensor Tensor::slice_rows(int64_t begin, int64_t end) const {
  if (dim() == 0 || begin < 0 || end > shape_[0] || begin > end || !is_contiguous())
    fail(ErrorCode::Internal, "invalid row slice of " + shape_str(shape_));
  Shape s = shape_;
  s[0] = end - begin;
  int64_t row_elems = shape_numel(Shape(shape_.begin() + 1, shape_.end()));
  int64_t offset = dtype_bytes_for(dtype_, begin * row_elems);
  if (offset < 0) fail(ErrorCode::Internal, "row slice not on a block boundary");
  return Tensor(dtype_, s, static_cast<char*>(data_) + offset, owner_);
}

namespace {

template <class T>
T load_unaligned(const char* base, int64_t i) {
  T v;
  std::memcpy(&v, base + i * static_cast<int64_t>(sizeof(T)), sizeof(T));
  return v;
}

}  // namespace

Tensor Tensor::to_f32() const {
  Tensor out = empty(DType::F32, shape_);
  float* dst = out.data_as<float>();
  int64_t n = numel();
  switch (dtype_) {
    case DType::F32: std::memcpy(dst, data_, static_cast<size_t>(n) * 4); break;
    // Views into a mapped file need not be element-aligned (safetensors does
    // not align tensor data), so elements are read with memcpy.
    case DType::F16: {
      const char* s = static_cast<const char*>(data_);
      for (int64_t i = 0; i < n; ++i) dst[i] = f16_to_f32(load_unaligned<uint16_t>(s, i));
      break;
    }
    case DType::BF16: {
      const char* s = static_cast<const char*>(data_);
      for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(load_unaligned<uint16_t>(s, i));
      break;
    }
    case DType::F64: {
      const char* s = static_cast<const char*>(data_);
      for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<float>(load_unaligned<double>(s, i));
      break;
    }
    default: fail(ErrorCode::Internal, std::string("to_f32 does not handle ") + dtype_name(dtype_) + " (dequantize first)");
  }
  return out;
}

}  // namespace sd
