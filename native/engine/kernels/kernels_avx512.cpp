// AVX-512 (F/BW/VL/DQ, BF16 where present) kernels (this file alone is built
// with those flags).
#include "kernels/kernel_table.h"

namespace sd {
namespace kern {

const Table* avx512_table() { return nullptr; }

}  // namespace kern
}  // namespace sd
