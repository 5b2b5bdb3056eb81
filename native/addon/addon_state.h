// Per-environment state (the addon is context-aware: each worker_thread
// gets its own copy, freed with its environment).
#pragma once
#include <napi.h>

namespace sdnode {

struct AddonState {
  Napi::FunctionReference model_ctor;
  static AddonState& Get(Napi::Env env) { return *env.GetInstanceData<AddonState>(); }
};

}  // namespace sdnode
