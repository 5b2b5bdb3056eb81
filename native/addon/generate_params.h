// JS object (built by lib/generate.ts) -> sd::GenerateParams. The TypeScript
// layer validates every option; this only checks types defensively and throws
// ERR_INVALID_OPTION for anything malformed, so a bad call never crashes.
#pragma once
#include <napi.h>

#include "pipeline/pipeline.h"

namespace sdnode {

sd::GenerateParams parse_generate_params(Napi::Env env, const Napi::Object& o);

}  // namespace sdnode
