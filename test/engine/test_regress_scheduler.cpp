// Regression: a diffusers folder's scheduler/scheduler_config.json reaches the
// pipeline's training schedule (pipeline/generate.cpp), which converted
// num_train_timesteps to int unchecked: 1e300 was undefined behaviour (float
// to int overflow), 2e9 asked for an 8 GB beta table, and beta_start < 0 gave
// NaN sigmas. Found by review while writing fuzz/fuzz_config.cpp (that target
// covers parse_scheduler_config, which already validated; the pipeline read
// the same file through its own code). Each must be a typed ERR_MODEL_FORMAT
// before any allocation, and the standard config must still generate.
#define SD_TEST_MAIN
#include "harness.h"
#include "io/model_loader.h"
#include "null_callbacks.h"
#include "pipeline/pipeline.h"

using namespace sd;

namespace {

PromptTokens empty_prompt() {
  TokenChunk c;
  c.ids.fill(49407);  // BOS, then EOS as padding (SD 1.x)
  c.ids[0] = 49406;
  c.weights.fill(1.0f);
  PromptTokens p;
  p.chunks.push_back(c);
  return p;
}

GenerateParams tiny_params() {
  GenerateParams p;
  p.prompt = p.negative_prompt = empty_prompt();
  p.width = p.height = 64;
  p.steps = 1;
  p.cfg_scale = 1.0f;
  p.sampler = "euler";
  return p;
}

}  // namespace

TEST(hostile_scheduler_config_is_a_typed_error) {
  auto model = load_model(sdtest::fixture("tiny-sd1/diffusers"), {});
  const char* hostile[] = {
      R"({"num_train_timesteps": 1e300})",
      R"({"num_train_timesteps": 2000000000})",
      R"({"num_train_timesteps": -5})",
      R"({"num_train_timesteps": 2.5})",
      R"({"beta_start": -1})",
      R"({"beta_start": 0.5, "beta_end": 0.1})",
      R"({"beta_end": 1e308})",
  };
  for (const char* cfg : hostile) {
    model->configs["scheduler"] = cfg;
    sdtest::NullCallbacks cb;
    GenerateResult r;
    CHECK_THROWS_CODE(run_generate(*model, tiny_params(), cb, &r), ErrorCode::ModelFormat);
  }
  model->configs["scheduler"] = R"({"num_train_timesteps": 1000, "beta_start": 0.00085, "beta_end": 0.012})";
  sdtest::NullCallbacks cb;
  GenerateResult r;
  run_generate(*model, tiny_params(), cb, &r);
  CHECK(r.images.size() == 1 && r.images[0].width == 64);
}
