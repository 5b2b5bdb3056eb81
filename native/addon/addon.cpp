// Module entry: registers the native API. Everything here is translation;
// the work happens in the engine (native/engine).
#include <napi.h>

#include "addon_state.h"
#include "convert_worker.h"
#include "generate_worker.h"
#include "kernels/kernel_table.h"
#include "model_wrap.h"

namespace sdnode {

Napi::Object InitAddon(Napi::Env env, Napi::Object exports) {
  auto* state = new AddonState();
  env.SetInstanceData<AddonState>(state);
  Napi::Function model_ctor = ModelWrap::Init(env);
  state->model_ctor = Napi::Persistent(model_ctor);
  exports.Set("NativeModel", model_ctor);
  exports.Set("loadModel", Napi::Function::New(env, LoadModel, "loadModel"));
  exports.Set("convertModel", Napi::Function::New(env, ConvertModel, "convertModel"));
  // The float kernel table this process runs ("avx512", "avx2", "neon", "scalar"):
  // the CPU's best path that this binary was built with (or SD_NATIVE_CPU's).
  exports.Set("kernelPath",
              Napi::Function::New(
                  env, [](const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), sd::kern::table().name); }, "kernelPath"));
  return exports;
}

}  // namespace sdnode

static Napi::Object Init(Napi::Env env, Napi::Object exports) { return sdnode::InitAddon(env, exports); }

NODE_API_MODULE(sd_native, Init)
