// Placeholder until the generation pipeline exists: the addon links against
// run_generate(), and capabilities().generate reports false so the API and the
// end-to-end tests know there is nothing to run. DELETE THIS FILE when
// pipeline.cpp defines run_generate() and pipeline_available() (a duplicate
// symbol at link time is the reminder).
#include "pipeline/pipeline.h"

namespace sd {

void run_generate(const LoadedModel&, const GenerateParams&, Callbacks&, GenerateResult*) {
  fail(ErrorCode::ModelUnsupported, "this build of sd-native has no generation pipeline yet");
}

bool pipeline_available() { return false; }

}  // namespace sd
