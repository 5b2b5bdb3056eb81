// CLIP text encoders against the reference (transformers CLIPTextModel) on the
// tiny fixtures: every hidden state, last/penultimate layer + final norm,
// pooled/projected outputs, SDXL's two-encoder conditioning; plus the A1111
// emphasis rule and chunk concatenation by construction.
#define SD_TEST_MAIN
#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "kernels/ops.h"
#include "models/clip_text.h"
#include "tensor/thread_pool.h"
#include "test_model_fixtures.h"

using namespace sd;
using namespace modeltest;

namespace {

// Every output of one reference file for an SD 1.x / 2.x-style single encoder.
void check_single_encoder(const LoadedModel& m, const Refs& ref, int prompts) {
  Compute c;
  ClipTextEncoder te = ClipTextEncoder::bind(m, "te1");
  double worst = 0;
  for (int p = 0; p < prompts; ++p) {
    std::string k = "p" + std::to_string(p) + ".";
    std::vector<int32_t> ids = ids_of(ref[k + "input_ids"]);
    std::vector<Tensor> hs = te.hidden_states(c, ids, 1);
    CHECK(int(hs.size()) == te.num_layers() + 1);
    for (size_t i = 0; i < hs.size(); ++i) {
      CHECK_CLOSE(hs[i], ref[k + "hidden_states." + std::to_string(i)], k + "hidden_states." + std::to_string(i));
      worst = std::max(worst, rel_err(hs[i], ref[k + "hidden_states." + std::to_string(i)]));
    }
    ClipOutput last = te.encode(c, ids, 1, {1, true, true});
    CHECK_CLOSE(last.hidden, ref[k + "last_hidden_state"], k + "last_hidden_state");
    CHECK_CLOSE(last.pooled, ref[k + "pooler_output"], k + "pooler_output");
    ClipOutput pen = te.encode(c, ids, 1, {2, true, false});
    CHECK_CLOSE(pen.hidden, ref[k + "penultimate_ln"], k + "penultimate_ln");
    worst = std::max({worst, rel_err(last.hidden, ref[k + "last_hidden_state"]), rel_err(last.pooled, ref[k + "pooler_output"]),
                      rel_err(pen.hidden, ref[k + "penultimate_ln"])});
  }
  std::printf("  worst rel L2 %.3g\n", worst);
}

}  // namespace

TEST(sd1_text_encoder_matches_reference_for_every_prompt_and_output) {
  auto m = load_fixture_model("tiny-sd1/tiny-sd1.safetensors", {{"te1", "tiny-sd1/diffusers/text_encoder/config.json"}});
  check_single_encoder(*m, load_refs("tiny-sd1/ref/text_encoder.safetensors"), 4);
}

TEST(sd1_text_encoder_defaults_without_config_use_quick_gelu) {
  // No config: the single-file fixture still encodes right where defaults
  // hold (quick_gelu, eps 1e-5) once the head count is given by shape rule.
  auto m = load_model(fixture("tiny-sd1/tiny-sd1.safetensors"), {});
  m->configs["te1"] = R"({"num_attention_heads": 4})";
  Refs ref = load_refs("tiny-sd1/ref/text_encoder.safetensors");
  Compute c;
  ClipOutput o = ClipTextEncoder::bind(*m, "te1").encode(c, ids_of(ref["p1.input_ids"]), 1, {});
  CHECK_CLOSE(o.hidden, ref["p1.last_hidden_state"], "p1.last_hidden_state");
}

TEST(sd2_text_encoder_gelu_matches_reference) {
  auto m = load_text_encoder_folder("tiny-sd2/diffusers/text_encoder", "te1", "sd2");
  check_single_encoder(*m, load_refs("tiny-sd2/ref/text_encoder.safetensors"), 4);
}

// The single-file SDXL checkpoint: te1 in HF names, te2 in OpenCLIP names
// (fused in_proj, transposed text_projection) mapped by the loader.
TEST(sdxl_both_encoders_and_conditioning_match_reference) {
  auto m = load_fixture_model("tiny-sdxl/tiny-sdxl.safetensors", {{"te1", "tiny-sdxl/diffusers/text_encoder/config.json"},
                                                                  {"te2", "tiny-sdxl/diffusers/text_encoder_2/config.json"}});
  Refs ref = load_refs("tiny-sdxl/ref/text_encoders.safetensors");
  Compute c;
  ClipTextEncoder te1 = ClipTextEncoder::bind(*m, "te1"), te2 = ClipTextEncoder::bind(*m, "te2");
  CHECK(te2.has_projection() && !te1.has_projection());
  for (int p = 0; p < 3; ++p) {
    std::string k = "p" + std::to_string(p) + ".";
    std::vector<int32_t> ids1 = ids_of(ref[k + "ids1"]), ids2 = ids_of(ref[k + "ids2"]);
    std::vector<Tensor> h1 = te1.hidden_states(c, ids1, 1), h2 = te2.hidden_states(c, ids2, 1);
    for (size_t i = 0; i < h1.size(); ++i) CHECK_CLOSE(h1[i], ref[k + "te1.hidden_states." + std::to_string(i)], k + "te1.hidden_states");
    for (size_t i = 0; i < h2.size(); ++i) CHECK_CLOSE(h2[i], ref[k + "te2.hidden_states." + std::to_string(i)], k + "te2.hidden_states");
    CHECK_CLOSE(te1.encode(c, ids1, 1, {}).hidden, ref[k + "te1.last_hidden_state"], k + "te1.last_hidden_state");
    CHECK_CLOSE(te2.encode(c, ids2, 1, {}).hidden, ref[k + "te2.last_hidden_state"], k + "te2.last_hidden_state");
    std::vector<float> ones(77, 1.0f);
    ClipOutput cond = encode_sdxl(c, te1, te2, {{ids1, ones}}, {{ids2, ones}});
    CHECK_CLOSE(cond.hidden, ref[k + "prompt_embeds"], k + "prompt_embeds");
    CHECK_CLOSE(cond.pooled, ref[k + "pooled_prompt_embeds"], k + "pooled_prompt_embeds");
  }
}

TEST(batched_encoding_equals_one_prompt_at_a_time) {
  auto m = load_fixture_model("tiny-sd1/tiny-sd1.safetensors", {{"te1", "tiny-sd1/diffusers/text_encoder/config.json"}});
  Refs ref = load_refs("tiny-sd1/ref/text_encoder.safetensors");
  Compute c;
  ClipTextEncoder te = ClipTextEncoder::bind(*m, "te1");
  std::vector<int32_t> ids = ids_of(ref["p0.input_ids"]), ids1 = ids_of(ref["p1.input_ids"]);
  ids.insert(ids.end(), ids1.begin(), ids1.end());
  ClipOutput o = te.encode(c, ids, 2, {1, true, true});
  CHECK(o.hidden.shape() == (Shape{2, 77, 32}));
  CHECK_CLOSE(o.hidden.slice_rows(1, 2), ref["p1.last_hidden_state"], "batch row 1");
  CHECK_CLOSE(o.pooled.slice_rows(0, 1), ref["p0.pooler_output"], "pooled row 0");
}

TEST(emphasis_weights_scale_tokens_and_keep_the_mean) {
  auto m = load_fixture_model("tiny-sd1/tiny-sd1.safetensors", {{"te1", "tiny-sd1/diffusers/text_encoder/config.json"}});
  Refs ref = load_refs("tiny-sd1/ref/text_encoder.safetensors");
  Compute c;
  ClipTextEncoder te = ClipTextEncoder::bind(*m, "te1");
  std::vector<int32_t> ids = ids_of(ref["p1.input_ids"]);
  std::vector<float> ones(77, 1.0f), w = ones;
  w[2] = 1.21f;
  w[3] = 1.21f;
  w[5] = 1 / 1.1f;
  ClipOutput plain = te.encode_chunks(c, {{ids, ones}}, {});
  CHECK_CLOSE(plain.hidden, ref["p1.last_hidden_state"], "all-ones weights change nothing");
  ClipOutput weighted = te.encode_chunks(c, {{ids, w}}, {});
  const float* a = plain.hidden.data_as<float>();
  const float* b = weighted.hidden.data_as<float>();
  double ma = 0, mb = 0;
  for (int64_t i = 0; i < plain.hidden.numel(); ++i) ma += a[i], mb += b[i];
  CHECK_MSG(std::fabs(ma - mb) <= 1e-4 * std::fabs(ma) + 1e-6, "mean changed: %g vs %g", ma, mb);
  // Every token is scaled by weight * k with one common k = mean ratio.
  double k = double(b[0]) / a[0];
  for (int t : {2, 3, 5, 10})
    for (int j = 0; j < 32; ++j) {
      double want = double(a[t * 32 + j]) * w[size_t(t)] * k;
      CHECK_MSG(std::fabs(b[t * 32 + j] - want) <= 1e-5 * (1 + std::fabs(want)), "token %d ch %d: %g vs %g", t, j, double(b[t * 32 + j]),
                want);
    }
}

TEST(chunks_concatenate_along_the_sequence) {
  auto m = load_fixture_model("tiny-sd1/tiny-sd1.safetensors", {{"te1", "tiny-sd1/diffusers/text_encoder/config.json"}});
  Refs ref = load_refs("tiny-sd1/ref/text_encoder.safetensors");
  Compute c;
  ClipTextEncoder te = ClipTextEncoder::bind(*m, "te1");
  std::vector<float> ones(77, 1.0f);
  ClipOutput o = te.encode_chunks(c, {{ids_of(ref["p0.input_ids"]), ones}, {ids_of(ref["p2.input_ids"]), ones}}, {2, true, true});
  CHECK(o.hidden.shape() == (Shape{1, 154, 32}));
  Tensor second = o.hidden.reshape({2, 77, 32}).slice_rows(1, 2);
  Tensor first = o.hidden.reshape({2, 77, 32}).slice_rows(0, 1);
  CHECK_CLOSE(first, ref["p0.penultimate_ln"], "chunk 0");
  CHECK_CLOSE(second, ref["p2.penultimate_ln"], "chunk 1");
  CHECK(o.pooled.shape() == (Shape{1, 32}));
}

// The pipeline encodes prompt and negative prompt in one batch
// (encode_prompts); each prompt's result must be bit for bit what encoding
// its chunks one at a time gives, weights and pooling included.
TEST(prompts_encode_in_one_batch_as_they_would_alone) {
  auto m = load_fixture_model("tiny-sd1/tiny-sd1.safetensors", {{"te1", "tiny-sd1/diffusers/text_encoder/config.json"}});
  Refs ref = load_refs("tiny-sd1/ref/text_encoder.safetensors");
  ThreadPool pool(2);
  Compute c;
  c.pool = &pool;
  ClipTextEncoder te = ClipTextEncoder::bind(*m, "te1");
  std::vector<float> ones(77, 1.0f), w = ones;
  w[3] = 1.21f;
  const std::vector<PromptChunk> a = {{ids_of(ref["p0.input_ids"]), w}, {ids_of(ref["p2.input_ids"]), ones}};
  const std::vector<PromptChunk> b = {{ids_of(ref["p1.input_ids"]), ones}};
  const ClipRequest req{2, true, true};
  std::vector<ClipOutput> both = te.encode_prompts(c, {a, b}, req);
  CHECK(both.size() == 2);
  auto alone = [&](const std::vector<PromptChunk>& chunks) {  // the reference: batch 1 per chunk
    ClipOutput o;
    for (size_t i = 0; i < chunks.size(); ++i) {
      ClipOutput one = te.encode(c, chunks[i].ids, 1, req);
      apply_token_weights(c, one.hidden, chunks[i].weights);
      o.hidden = i == 0 ? one.hidden : ops::concat(c, o.hidden, one.hidden, 1);
      if (i == 0) o.pooled = one.pooled;
    }
    return o;
  };
  auto same = [](const Tensor& x, const Tensor& y) {
    return x.shape() == y.shape() && std::memcmp(x.data(), y.data(), size_t(x.numel()) * sizeof(float)) == 0;
  };
  for (size_t k = 0; k < 2 && both.size() == 2; ++k) {
    ClipOutput want = alone(k == 0 ? a : b);
    CHECK_MSG(same(both[k].hidden, want.hidden), "prompt %zu hidden differs", k);
    CHECK_MSG(same(both[k].pooled, want.pooled), "prompt %zu pooled differs", k);
  }
  CHECK_THROWS_CODE(te.encode_prompts(c, {a, {}}, req), ErrorCode::InvalidOption);
}

TEST(bad_token_input_is_refused) {
  auto m = load_fixture_model("tiny-sd1/tiny-sd1.safetensors", {{"te1", "tiny-sd1/diffusers/text_encoder/config.json"}});
  Compute c;
  ClipTextEncoder te = ClipTextEncoder::bind(*m, "te1");
  CHECK_THROWS_CODE(te.encode(c, std::vector<int32_t>(78, 1), 1, {}), ErrorCode::InvalidOption);
  CHECK_THROWS_CODE(te.encode(c, std::vector<int32_t>{49406, 49408}, 1, {}), ErrorCode::InvalidOption);
  CHECK_THROWS_CODE(te.encode(c, std::vector<int32_t>{49406, 49407}, 1, {5, true, false}), ErrorCode::InvalidOption);
  CHECK_THROWS_CODE(te.encode_chunks(c, {{{49406, 49407}, {1.0f}}}, {}), ErrorCode::InvalidOption);
}

TEST(missing_encoder_weights_name_the_tensor) {
  auto m = load_text_encoder_folder("tiny-sd2/diffusers/text_encoder", "te1", "sd2");
  m->weights.set("te1.text_model.encoder.layers.1.mlp.fc2.weight", Tensor::zeros(DType::F32, {3, 3}));
  CHECK_THROWS_CODE(ClipTextEncoder::bind(*m, "te1"), ErrorCode::ModelFormat);
  CHECK_THROWS_CODE(ClipTextEncoder::bind(*m, "te2"), ErrorCode::ModelFormat);
}

TEST(clip_skip_is_the_users_for_every_form_of_a_model) {
  // The loader gives single files exactly the diffusers folder's text layers
  // (it drops SD 2.x's extra OpenCLIP layer; test_io_loader checks the weights),
  // so the skip takes no model: it is the user's, checked.
  CHECK(conditioning_clip_skip(1) == 1);
  CHECK(conditioning_clip_skip(2) == 2);
  CHECK_THROWS_CODE(conditioning_clip_skip(0), ErrorCode::InvalidOption);
}
