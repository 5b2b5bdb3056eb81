#include "io/ckpt.h"

#include "core/error.h"

namespace sd {

TensorFile read_ckpt(const std::string& path) { fail(ErrorCode::ModelUnsupported, path + ": .ckpt reading is not implemented yet"); }

}  // namespace sd
