// diffusers config files (config.json per component, scheduler_config.json,
// model_index.json) through the code that consumes them: the first input byte
// picks the file, the rest is its text. Component configs are bound against
// the tiny SD1 model's real weights (loaded once), so hyper-parameters that
// disagree with the weights must be rejected, not crash a model.
#include <cstdlib>
#include <memory>
#include <string>

#include "fuzz_util.h"
#include "io/json.h"
#include "io/model_loader.h"
#include "models/clip_text.h"
#include "models/unet.h"
#include "models/vae.h"
#include "sampling/scheduler_config.h"

namespace {

sd::LoadedModel& tiny_model() {
  static std::unique_ptr<sd::LoadedModel> model = [] {
    const char* env = std::getenv("SD_FIXTURES_DIR");
    const std::string dir = std::string(env ? env : SD_FIXTURES_DIR) + "/tiny-sd1/diffusers";
    return sd::load_model(dir, sd::LoadOptions{});
  }();
  return *model;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  sd::LoadedModel& model = tiny_model();
  const int which = data[0] % 5;
  static const char* const kComponent[] = {"unet", "vae", "te1", "scheduler", "model_index"};
  const std::string key = kComponent[which];
  std::string saved;
  auto it = model.configs.find(key);
  const bool had = it != model.configs.end();
  if (had) saved = it->second;
  model.configs[key] = text;
  sdfuzz::expect_typed([&] {
    switch (which) {
      case 0: sd::UNet::bind(model); break;
      case 1: sd::VAE::bind(model); break;
      case 2: sd::ClipTextEncoder::bind(model, "te1"); break;
      case 3: sd::parse_scheduler_config(text); break;
      default:  // what read_json_object_file accepts
        if (!sd::Json::parse(text, 32).is_object()) sd::fail(sd::ErrorCode::ModelFormat, "not an object");
    }
  });
  if (had)
    model.configs[key] = saved;
  else
    model.configs.erase(key);
  return 0;
}
