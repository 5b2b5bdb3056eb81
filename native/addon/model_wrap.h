// NativeModel: the one JS-visible native class. It owns an engine model and
// runs every operation on it in its own AsyncWorker (off the JS thread).
#pragma once
#include <napi.h>

#include <memory>

#include "io/model_loader.h"
#include "lora/lora_merge.h"

namespace sdnode {

class ModelWrap : public Napi::ObjectWrap<ModelWrap> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit ModelWrap(const Napi::CallbackInfo& info);

  // Called by LoadWorker on the JS thread with the finished engine model.
  static Napi::Object Wrap(Napi::Env env, std::shared_ptr<sd::LoadedModel> model);

 private:
  Napi::Value Info(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  // generate(params, onEvent) => { promise, abort } (see generate_worker.h)
  Napi::Value Generate(const Napi::CallbackInfo& info);
  // readEmbedding(path) => { token, te1?: Float32Array, te2?: Float32Array, dim1, dim2 } (small files: synchronous)
  Napi::Value ReadEmbedding(const Napi::CallbackInfo& info);
  // estimateMemory(width, height, batch, guided) => bytes of activations (pipeline/memory_estimate.h)
  Napi::Value EstimateMemory(const Napi::CallbackInfo& info);
  // vocabulary() => { tokens: string[], merges: string[] } | undefined: the CLIP vocabulary the checkpoint carries (GGUF)
  Napi::Value Vocabulary(const Napi::CallbackInfo& info);

  std::shared_ptr<sd::LoadedModel> model_;
  // Merged weights of the last LoRA set used with this model (freed on dispose).
  std::shared_ptr<sd::LoraCache> lora_cache_ = std::make_shared<sd::LoraCache>();
};

// loadModel(path: string, options: object) => Promise<NativeModel>
Napi::Value LoadModel(const Napi::CallbackInfo& info);

}  // namespace sdnode
