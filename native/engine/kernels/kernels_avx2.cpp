// AVX2 + FMA + F16C kernels (this file alone is built with those flags).
#include "kernels/kernel_table.h"

namespace sd {
namespace kern {

const Table* avx2_table() { return nullptr; }

}  // namespace kern
}  // namespace sd
