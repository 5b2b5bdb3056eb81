// TAESD (diffusers AutoencoderTiny) against the taesd fixture: decode and
// encode outputs and intermediate layers, the original taesd_decoder /
// taesd_encoder naming (built from the diffusers file by the documented
// renaming) giving identical outputs, and bad files.
#define SD_TEST_MAIN
#include "core/error.h"
#include "models/taesd.h"
#include "pipeline/generate_internal.h"
#include "pipeline/image_tensors.h"
#include "test_io_util.h"
#include "test_model_fixtures.h"

using namespace sd;
using namespace modeltest;

namespace {

std::unique_ptr<LoadedModel> with_taesd(const std::string& path) {
  auto m = std::make_unique<LoadedModel>();
  add_taesd_weights(m.get(), path);
  return m;
}

}  // namespace

TEST(decode_matches_reference_with_intermediate_layers) {
  auto m = with_taesd(fixture("taesd/diffusers"));
  TinyAutoencoder ae = TinyAutoencoder::bind(*m);
  Refs ref = load_refs("taesd/ref/taesd.safetensors");
  Compute c;
  std::vector<Tensor> layers = ae.decode_layers(c, ref["decode.d0.latents"]);
  CHECK(layers.size() == 19);
  for (int i : {0, 2, 9})
    CHECK_CLOSE(layers[size_t(i)], ref["decode.d0.dbg.decoder.layers." + std::to_string(i)], "decoder.layers." + std::to_string(i));
  for (const char* k : {"d0", "d1"}) {
    Tensor img = ae.decode(c, ref[std::string("decode.") + k + ".latents"]);
    CHECK_CLOSE(img, ref[std::string("decode.") + k + ".image"], std::string(k) + " image");
    std::printf("  decode %s rel %.2e\n", k, rel_err(img, ref[std::string("decode.") + k + ".image"]));
  }
}

TEST(encode_matches_reference_with_intermediate_layers) {
  auto m = with_taesd(fixture("taesd/diffusers"));
  TinyAutoencoder ae = TinyAutoencoder::bind(*m);
  Refs ref = load_refs("taesd/ref/taesd.safetensors");
  Compute c;
  std::vector<Tensor> layers = ae.encode_layers(c, ref["encode.e0.image"]);
  CHECK(layers.size() == 15);
  for (int i : {2, 13})
    CHECK_CLOSE(layers[size_t(i)], ref["encode.e0.dbg.encoder.layers." + std::to_string(i)], "encoder.layers." + std::to_string(i));
  Tensor z = ae.encode(c, ref["encode.e0.image"]);
  CHECK_CLOSE(z, ref["encode.e0.latents"], "e0 latents");
  std::printf("  encode e0 rel %.2e\n", rel_err(z, ref["encode.e0.latents"]));
}

TEST(original_taesd_file_names_load_to_the_same_model) {
  iotest::TempDir dir("taesd");
  // Documented renaming: encoder key N.* = encoder.layers.N.*; decoder key N.* = decoder.layers.(N-1).*.
  std::vector<iotest::OutTensor> enc, dec;
  for (auto& [name, t] : read_safetensors(fixture("taesd/diffusers/diffusion_pytorch_model.safetensors")).tensors) {
    if (name.rfind("encoder.layers.", 0) == 0) enc.push_back(iotest::out_tensor(name.substr(15), t));
    if (name.rfind("decoder.layers.", 0) == 0) {
      const std::string rest = name.substr(15);
      const size_t dot = rest.find('.');
      dec.push_back(iotest::out_tensor(std::to_string(std::stoi(rest.substr(0, dot)) + 1) + rest.substr(dot), t));
    }
  }
  iotest::write_file(dir.path + "/taesd_encoder.safetensors", iotest::safetensors_bytes(enc));
  iotest::write_file(dir.path + "/taesd_decoder.safetensors", iotest::safetensors_bytes(dec));
  auto m = std::make_unique<LoadedModel>();
  add_taesd_weights(m.get(), dir.path + "/taesd_decoder.safetensors");
  add_taesd_weights(m.get(), dir.path + "/taesd_encoder.safetensors");
  TinyAutoencoder ae = TinyAutoencoder::bind(*m);
  Refs ref = load_refs("taesd/ref/taesd.safetensors");
  Compute c;
  CHECK_CLOSE(ae.decode(c, ref["decode.d0.latents"]), ref["decode.d0.image"], "original-names decode");
  CHECK_CLOSE(ae.encode(c, ref["encode.e0.image"]), ref["encode.e0.latents"], "original-names encode");
}

TEST(bad_taesd_inputs_get_typed_errors) {
  auto empty = std::make_unique<LoadedModel>();
  CHECK_THROWS_CODE(add_taesd_weights(empty.get(), fixture("taesd/missing.safetensors")), ErrorCode::ModelNotFound);
  CHECK_THROWS_CODE(add_taesd_weights(empty.get(), fixture("tiny-sd1/tiny-sd1.safetensors")), ErrorCode::ModelFormat);
  CHECK_THROWS_CODE(TinyAutoencoder::bind(*empty), ErrorCode::ModelFormat);
  auto m = with_taesd(fixture("taesd/diffusers"));
  TinyAutoencoder ae = TinyAutoencoder::bind(*m);
  Compute c;
  CHECK_THROWS_CODE(ae.decode(c, Tensor::zeros(DType::F32, {1, 3, 8, 8})), ErrorCode::InvalidOption);
  CHECK_THROWS_CODE(ae.encode(c, Tensor::zeros(DType::F32, {1, 3, 12, 16})), ErrorCode::InvalidOption);
}

namespace {

class PreviewRecorder : public Callbacks {
 public:
  void progress(Stage, int, int, float) override {}
  void preview(int, const RgbImage& image) override { previews.push_back(image); }
  bool is_aborted() const override { return false; }
  std::vector<RgbImage> previews;
};

}  // namespace

TEST(pipeline_decodes_with_taesd_and_previews_at_full_size) {
  auto m = load_tiny_sd1();
  GenerateParams p;
  TokenChunk chunk;
  chunk.ids.fill(49407);
  chunk.ids[0] = 49406;
  chunk.weights.fill(1.0f);
  p.prompt.chunks = {chunk};
  p.negative_prompt.chunks = {chunk};
  p.width = p.height = 64;
  p.steps = 2;
  p.sampler = "euler";
  p.threads = 1;
  p.decoder = "taesd";
  PreviewRecorder cb;
  GenerateResult r;
  CHECK_THROWS_CODE(run_generate(*m, p, cb, &r), ErrorCode::InvalidOption);  // no TAESD loaded yet
  add_taesd_weights(m.get(), fixture("taesd/diffusers"));
  p.preview_every = 1;
  TorchRandomSource rng(p.seed);
  Tensor latents;
  generate_with(*m, p, cb, rng, &r, &latents);
  // The image is TAESD's decode of the final (pipeline-scale) latents.
  Compute c;
  RgbImage want = tensor_to_rgb(TinyAutoencoder::bind(*m).decode(c, latents), 0);
  CHECK(r.images.at(0).data == want.data);
  CHECK(cb.previews.size() == 2 && cb.previews[0].width == 64 && cb.previews[0].height == 64);
  p.decoder = "vae";
  GenerateResult v;
  run_generate(*m, p, cb, &v);
  CHECK(v.images.at(0).data != r.images.at(0).data);
  p.decoder = "fast";
  CHECK_THROWS_CODE(run_generate(*m, p, cb, &v), ErrorCode::InvalidOption);
}
