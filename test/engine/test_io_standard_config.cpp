// Standard hyper-parameters for single files (no config.json): what the
// weights' shapes imply must win over fixed SD values.
#define SD_TEST_MAIN
#include "harness.h"
#include "io/json.h"
#include "io/model_loader.h"
#include "models/unet.h"

using namespace sd;

TEST(sdxl_time_embedding_width_follows_from_shapes) {
  // tiny-sdxl: label_emb input 72 = 24 (pooled) + 6 * 8, not the real SDXL's 6 * 256.
  auto model = load_model(sdtest::fixture("tiny-sdxl/tiny-sdxl.safetensors"), {});
  Json unet = Json::parse(model->configs.at("unet"));
  int64_t dim = 0;
  CHECK(unet.find("addition_time_embed_dim")->as_int64(&dim));
  CHECK_MSG(dim == 8, "addition_time_embed_dim %lld", (long long)dim);
  UNet::bind(*model);  // must not throw
}
