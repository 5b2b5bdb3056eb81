// convertModel(src, out, type, onProgress) -> Promise<void>: `sd-native
// convert` on a worker thread (quant/convert_model.h), progress forwarded to
// the JS thread in order.
#pragma once
#include <napi.h>

namespace sdnode {

Napi::Value ConvertModel(const Napi::CallbackInfo& info);

}  // namespace sdnode
