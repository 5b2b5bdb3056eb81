// Typed engine errors. Every failure that can reach JS is an sd::Error whose
// code maps 1:1 to the stable `code` string the TypeScript layer exposes.
#pragma once
#include <stdexcept>
#include <string>

namespace sd {

enum class ErrorCode {
  ModelFormat,        // ERR_MODEL_FORMAT: the file is malformed
  ModelUnsupported,   // ERR_MODEL_UNSUPPORTED: well-formed, but not a model we run
  ModelNotFound,      // ERR_MODEL_NOT_FOUND: path missing
  InvalidOption,      // ERR_INVALID_OPTION
  OutOfMemory,        // ERR_OUT_OF_MEMORY
  Aborted,            // ABORT_ERR
  Numerical,          // ERR_NUMERICAL: NaN/Inf detected
  TokenizerNotFound,  // ERR_TOKENIZER_NOT_FOUND
  Io,                 // ERR_IO: unreadable file, permissions
  Internal,           // ERR_INTERNAL: a bug in this engine
  LoraFormat,         // ERR_LORA_FORMAT: an add-on file (LoRA) matches no known layout
};

const char* error_code_name(ErrorCode code);

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ErrorCode code() const { return code_; }

 private:
  ErrorCode code_;
};

[[noreturn]] void fail(ErrorCode code, const std::string& message);

}  // namespace sd
