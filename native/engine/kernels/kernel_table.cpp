#include "kernels/kernel_table.h"

#include <string>

#include "core/error.h"
#include "kernels/ops.h"
#include "tensor/cpu_features.h"

namespace sd {
namespace kern {

void fail_unhandled_dtype(DType t) {
  fail(ErrorCode::ModelUnsupported, std::string("kernels do not handle dtype ") + dtype_name(t) + " here");
}

void fail_internal(const char* what, int64_t value) { fail(ErrorCode::Internal, std::string(what) + " " + std::to_string(value)); }

}  // namespace kern

const char* OpTimers::name(int op) {
  static const char* const names[kCount] = {"linear", "conv2d", "attention", "norm", "elementwise", "layout"};
  return op >= 0 && op < kCount ? names[op] : "?";
}

namespace kern {

const Table& table() {
  switch (cpu_path()) {
    case CpuPath::Avx512:
      if (const Table* t = avx512_table()) return *t;
      [[fallthrough]];
    case CpuPath::Avx2:
      if (const Table* t = avx2_table()) return *t;
      [[fallthrough]];
    case CpuPath::Neon:
      if (const Table* t = neon_table()) return *t;
      break;
    case CpuPath::Scalar: break;
  }
  return scalar_table();
}

}  // namespace kern
}  // namespace sd
