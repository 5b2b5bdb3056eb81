// convertModel(src, out, type, onProgress) -> { promise: Promise<void>,
// abort(): void }: `sd-native convert` on a worker thread
// (quant/convert_model.h), progress forwarded to the JS thread in order;
// abort() stops it after the tensor being written (ABORT_ERR, no file left).
#pragma once
#include <napi.h>

namespace sdnode {

Napi::Value ConvertModel(const Napi::CallbackInfo& info);

}  // namespace sdnode
