// A1111 textual-inversion .pt files (torch zip pickles, built here by hand:
// there is no torch) against the tiny-sd1-ti references: the vectors nested in
// string_to_param are read exactly, encode to the reference, and a
// diffusers learned_embeds.bin (zip) still names its token. Bad files get
// typed errors.
#define SD_TEST_MAIN
#include <functional>

#include "core/error.h"
#include "lora/embedding_file.h"
#include "models/clip_text.h"
#include "test_io_ckpt_writer.h"
#include "test_io_util.h"
#include "test_model_fixtures.h"

using namespace sd;
using namespace modeltest;
using iotest::PickleWriter;

namespace {

// The fixture's vectors [2, 32] as little-endian f32 bytes (a FloatStorage).
std::string reference_vector_bytes() {
  Tensor e = read_embedding_file(fixture("tiny-sd1-ti/tiny-style.a1111.safetensors")).te1;  // [2, 32] f32
  return std::string(static_cast<const char*>(e.data()), size_t(e.nbytes()));
}

// torch.save of A1111's embedding dict; `params` writes string_to_param's items.
std::string a1111_pt(const std::function<void(PickleWriter&)>& params, const std::string& storage) {
  PickleWriter p;
  p.op('}').mark();
  p.str("string_to_token").op('}').mark().str("*").integer(265).op('u');
  p.str("string_to_param").op('}').mark();
  params(p);
  p.op('u');
  p.str("name").str("tiny-style");
  p.str("step").integer(3000);
  p.str("sd_checkpoint_name").str("tiny-sd1");
  p.op('u');
  return iotest::zip_bytes({{"archive/data.pkl", p.finish()}, {"archive/data/0", storage}, {"archive/version", "3\n"}});
}

void star_param(PickleWriter& p) { p.str("*").tensor("FloatStorage", "0", 64, 0, {2, 32}, {32, 1}); }

}  // namespace

TEST(a1111_pt_reads_the_reference_vectors) {
  iotest::TempDir dir("ti-pt");
  const std::string path = dir.path + "/tiny-style.pt";
  iotest::write_file(path, a1111_pt(star_param, reference_vector_bytes()));
  EmbeddingFile e = read_embedding_file(path);
  Refs ref = load_refs("tiny-sd1-ti/ref/ti.safetensors");
  CHECK(e.token.empty());  // A1111: the file name is the token
  CHECK(e.te1.shape() == Shape({2, 32}) && !e.te2.data());
  CHECK(rel_err(e.te1, ref["embedding"]) == 0.0);
  // And through the text encoder, as the .safetensors form.
  auto m = load_fixture_model("tiny-sd1/tiny-sd1.safetensors", {{"te1", "tiny-sd1/diffusers/text_encoder/config.json"}});
  ClipTextEncoder te = ClipTextEncoder::bind(*with_extra_tokens(*m, e.te1, Tensor()), "te1");
  Compute c;
  ClipOutput out = te.encode(c, ids_of(ref["p0.input_ids"]), 1, {1, true, false});
  CHECK_CLOSE(out.hidden, ref["p0.last_hidden_state"], "last_hidden_state from .pt");
}

TEST(diffusers_learned_embeds_bin_keeps_its_token) {
  iotest::TempDir dir("ti-bin");
  PickleWriter p;
  p.op('}').mark().str("<tiny-style>").tensor("FloatStorage", "0", 64, 0, {2, 32}, {32, 1}).op('u');
  const std::string path = dir.path + "/learned_embeds.bin";
  iotest::write_file(path, iotest::zip_bytes({{"archive/data.pkl", p.finish()}, {"archive/data/0", reference_vector_bytes()}}));
  EmbeddingFile e = read_embedding_file(path);
  CHECK(e.token == "<tiny-style>");
  CHECK(rel_err(e.te1, load_refs("tiny-sd1-ti/ref/ti.safetensors")["embedding"]) == 0.0);
}

TEST(bad_pt_files_get_typed_errors) {
  iotest::TempDir dir("ti-pt-bad");
  const std::string bytes = reference_vector_bytes();
  auto write = [&](const std::string& name, const std::string& data) {
    const std::string path = dir.path + "/" + name;
    iotest::write_file(path, data);
    return path;
  };
  // Cut in half: the zip directory is gone.
  const std::string good = a1111_pt(star_param, bytes);
  CHECK_THROWS_CODE(read_embedding_file(write("cut.pt", good.substr(0, good.size() / 2))), ErrorCode::ModelFormat);
  // Not a zip at all.
  CHECK_THROWS_CODE(read_embedding_file(write("text.pt", "hello, not a pickle")), ErrorCode::ModelFormat);
  // Two vectors in string_to_param: ambiguous.
  auto two = [](PickleWriter& p) {
    p.str("*").tensor("FloatStorage", "0", 64, 0, {2, 32}, {32, 1});
    p.str("+").tensor("FloatStorage", "0", 64, 0, {1, 32}, {32, 1});
  };
  CHECK_THROWS_CODE(read_embedding_file(write("two.pt", a1111_pt(two, bytes))), ErrorCode::ModelFormat);
  // A [2, 2, 16] cube is no list of vectors.
  auto cube = [](PickleWriter& p) { p.str("*").tensor("FloatStorage", "0", 64, 0, {2, 2, 16}, {32, 16, 1}); };
  CHECK_THROWS_CODE(read_embedding_file(write("cube.pt", a1111_pt(cube, bytes))), ErrorCode::ModelFormat);
  // The tensor reaches past its storage.
  auto past = [](PickleWriter& p) { p.str("*").tensor("FloatStorage", "0", 64, 40, {2, 32}, {32, 1}); };
  CHECK_THROWS_CODE(read_embedding_file(write("past.pt", a1111_pt(past, bytes))), ErrorCode::ModelFormat);
  // A hostile global is refused by name, never run.
  auto hostile = [](PickleWriter& p) { p.str("*").global("os", "system").str("echo pwned").op('\x85').op('R'); };
  CHECK_THROWS_CODE(read_embedding_file(write("hostile.pt", a1111_pt(hostile, bytes))), ErrorCode::ModelUnsupported);
  // No vectors anywhere.
  auto empty = [](PickleWriter&) {};
  CHECK_THROWS_CODE(read_embedding_file(write("empty.pt", a1111_pt(empty, bytes))), ErrorCode::ModelUnsupported);
}
