// One generate() call: runs sd::run_generate on a worker thread, delivers
// progress/preview events to a per-call JS callback in order (through the
// queue of an AsyncProgressQueueWorker, i.e. a ThreadSafeFunction), and is
// cancelled through an atomic flag that the JS `abort()` function sets.
#pragma once
#include <napi.h>

#include <memory>

#include "io/model_loader.h"
#include "lora/lora_merge.h"

namespace sdnode {

// Starts a generation on `model`. info[0]: params object (see generate_params.h),
// info[1]: onEvent(event) function.
// Returns { promise: Promise<{ images, timings }>, abort(): void }.
// `lora_cache`: the model's cache of merged LoRA weights (shared with later calls).
Napi::Value StartGenerate(const Napi::CallbackInfo& info, std::shared_ptr<const sd::LoadedModel> model,
                          std::shared_ptr<sd::LoraCache> lora_cache);

}  // namespace sdnode
