// Engine errors -> JS errors with a stable `code` property.
#pragma once
#include <napi.h>

#include <string>

namespace sdnode {

// A failure captured on a worker thread, to be turned into a JS error later.
struct CapturedError {
  std::string code;  // "ERR_MODEL_FORMAT", ...
  std::string message;
};

// Runs `fn`, converting any exception into `*err`. Returns false on failure.
template <typename Fn>
bool capture_errors(CapturedError* err, Fn&& fn);

Napi::Error make_js_error(Napi::Env env, const CapturedError& err);

}  // namespace sdnode

#include "js_errors_inl.h"
