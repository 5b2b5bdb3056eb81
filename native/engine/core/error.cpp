#include "core/error.h"

namespace sd {

const char* error_code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::ModelFormat: return "ERR_MODEL_FORMAT";
    case ErrorCode::ModelUnsupported: return "ERR_MODEL_UNSUPPORTED";
    case ErrorCode::ModelNotFound: return "ERR_MODEL_NOT_FOUND";
    case ErrorCode::InvalidOption: return "ERR_INVALID_OPTION";
    case ErrorCode::OutOfMemory: return "ERR_OUT_OF_MEMORY";
    case ErrorCode::Aborted: return "ABORT_ERR";
    case ErrorCode::Numerical: return "ERR_NUMERICAL";
    case ErrorCode::TokenizerNotFound: return "ERR_TOKENIZER_NOT_FOUND";
    case ErrorCode::Io: return "ERR_IO";
    case ErrorCode::Internal: return "ERR_INTERNAL";
    case ErrorCode::LoraFormat: return "ERR_LORA_FORMAT";
  }
  return "ERR_INTERNAL";
}

void fail(ErrorCode code, const std::string& message) { throw Error(code, message); }

}  // namespace sd
