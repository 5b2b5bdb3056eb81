// The JS handle of a cancellable operation: { promise, abort() }, where
// abort() sets a flag the worker thread polls (generate_worker,
// convert_worker).
#pragma once
#include <napi.h>

#include <atomic>
#include <memory>

namespace sdnode {

using AbortFlag = std::shared_ptr<std::atomic<bool>>;

inline Napi::Object abortable_handle(Napi::Env env, Napi::Promise promise, AbortFlag aborted) {
  Napi::Object handle = Napi::Object::New(env);
  handle.Set("promise", promise);
  handle.Set("abort", Napi::Function::New(
                          env,
                          [aborted](const Napi::CallbackInfo& ci) -> Napi::Value {
                            aborted->store(true, std::memory_order_relaxed);
                            return ci.Env().Undefined();
                          },
                          "abort"));
  return handle;
}

}  // namespace sdnode
