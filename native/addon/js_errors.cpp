#include "js_errors.h"

namespace sdnode {

Napi::Error make_js_error(Napi::Env env, const CapturedError& err) {
  Napi::Error e = Napi::Error::New(env, err.message);
  e.Set("code", Napi::String::New(env, err.code));
  if (err.code == "ABORT_ERR") e.Set("name", Napi::String::New(env, "AbortError"));
  return e;
}

}  // namespace sdnode
