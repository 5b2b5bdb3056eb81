// Textual inversion against the tiny-sd1-ti references: both file layouts
// give the reference vectors; with them as extra token rows (ids 49408,
// 49409) the text encoder reproduces the reference embeddings and output;
// bad files and out-of-range ids get typed errors.
#define SD_TEST_MAIN
#include "core/error.h"
#include "lora/embedding_file.h"
#include "models/clip_text.h"
#include "test_io_util.h"
#include "test_model_fixtures.h"

using namespace sd;
using namespace modeltest;

TEST(both_layouts_read_the_reference_vectors) {
  Refs ref = load_refs("tiny-sd1-ti/ref/ti.safetensors");
  EmbeddingFile a = read_embedding_file(fixture("tiny-sd1-ti/tiny-style.a1111.safetensors"));
  EmbeddingFile d = read_embedding_file(fixture("tiny-sd1-ti/learned_embeds.safetensors"));
  CHECK(a.token.empty() && d.token == "<tiny-style>");
  CHECK(!a.te2.data() && !d.te2.data());
  CHECK(rel_err(a.te1, ref["embedding"]) == 0.0);
  CHECK(rel_err(d.te1, ref["embedding"]) == 0.0);
}

TEST(text_encoder_with_the_vectors_matches_reference) {
  auto m = load_fixture_model("tiny-sd1/tiny-sd1.safetensors", {{"te1", "tiny-sd1/diffusers/text_encoder/config.json"}});
  Refs ref = load_refs("tiny-sd1-ti/ref/ti.safetensors");
  EmbeddingFile e = read_embedding_file(fixture("tiny-sd1-ti/tiny-style.a1111.safetensors"));
  auto with = with_extra_tokens(*m, e.te1, Tensor());
  ClipTextEncoder te = ClipTextEncoder::bind(*with, "te1");
  Compute c;
  std::vector<int32_t> ids = ids_of(ref["p0.input_ids"]);
  CHECK(ids[4] == 49408 && ids[5] == 49409);
  std::vector<Tensor> hs = te.hidden_states(c, ids, 1);
  CHECK_CLOSE(hs[0], ref["p0.hidden_states.0"], "hidden_states.0");
  ClipOutput out = te.encode(c, ids, 1, {1, true, false});
  CHECK_CLOSE(out.hidden, ref["p0.last_hidden_state"], "last_hidden_state");
  std::printf("  last_hidden_state rel %.2e\n", rel_err(out.hidden, ref["p0.last_hidden_state"]));
  // The base model is untouched: id 49408 is outside its vocabulary.
  ClipTextEncoder plain = ClipTextEncoder::bind(*m, "te1");
  CHECK_THROWS_CODE(plain.encode(c, ids, 1, {1, true, false}), ErrorCode::InvalidOption);
  ids[6] = 49410;  // one past the 2 extra rows
  CHECK_THROWS_CODE(te.encode(c, ids, 1, {1, true, false}), ErrorCode::InvalidOption);
  // Vectors of another width are refused.
  auto wrong = with_extra_tokens(*m, Tensor::zeros(DType::F32, {1, 16}), Tensor());
  CHECK_THROWS_CODE(ClipTextEncoder::bind(*wrong, "te1"), ErrorCode::InvalidOption);
}

TEST(bad_embedding_files_get_typed_errors) {
  iotest::TempDir dir("ti");
  CHECK_THROWS_CODE(read_embedding_file(dir.path + "/missing.safetensors"), ErrorCode::ModelNotFound);
  CHECK_THROWS_CODE(read_embedding_file(fixture("tiny-sd1-lora/tiny-sd1-lora.kohya.safetensors")), ErrorCode::ModelFormat);
  const std::string cube = dir.path + "/cube.safetensors";
  iotest::write_file(cube, iotest::safetensors_bytes({iotest::out_tensor("emb_params", Tensor::zeros(DType::F32, {2, 2, 2}))}));
  CHECK_THROWS_CODE(read_embedding_file(cube), ErrorCode::ModelFormat);
}
