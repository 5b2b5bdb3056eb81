// U-Net forward against the reference (diffusers UNet2DConditionModel) on the
// tiny fixtures: SD 1.x (conv projection) with its intermediate outputs,
// batch 2 with per-sample timesteps, SD 2.x (linear projection, per-level
// heads, from its diffusers folder), SDXL text_time conditioning; bad inputs
// refused. The feed-forward's token blocks against one pass.
#define SD_TEST_MAIN
#include <cmath>
#include <cstring>
#include <map>

#include "core/error.h"
#include "kernel_test_util.h"
#include "kernels/ops.h"
#include "models/attention.h"
#include "models/unet.h"
#include "tensor/thread_pool.h"
#include "test_model_fixtures.h"

using namespace sd;
using namespace modeltest;

namespace {

std::unique_ptr<LoadedModel> tiny_sd1() {
  return load_fixture_model("tiny-sd1/tiny-sd1.safetensors", {{"unet", "tiny-sd1/diffusers/unet/config.json"}});
}

}  // namespace

TEST(sd1_unet_matches_reference_for_every_case) {
  auto m = tiny_sd1();
  UNet unet = UNet::bind(*m);
  CHECK(unet.in_channels() == 4 && !unet.is_inpaint() && !unet.has_text_time() && unet.context_dim() == 32);
  Refs ref = load_refs("tiny-sd1/ref/unet.safetensors");
  Compute c;
  for (int i = 0; i <= 5; ++i) {
    std::string k = "c" + std::to_string(i) + ".";
    Tensor out = unet.forward(c, ref[k + "sample"], ref[k + "timestep"], ref[k + "encoder_hidden_states"]);
    CHECK_CLOSE(out, ref[k + "out"], k + "out");
    std::printf("  %sout rel L2 %.3g\n", k.c_str(), rel_err(out, ref[k + "out"]));
  }
}

TEST(sd1_unet_intermediates_match_reference_blocks) {
  auto m = tiny_sd1();
  UNet unet = UNet::bind(*m);
  Refs ref = load_refs("tiny-sd1/ref/unet.safetensors");
  // LDM stage -> diffusers module whose output the reference hooked (layers_per_block 2).
  std::map<std::string, std::string> names = {{"time_embed", "time_embedding"},
                                              {"input_blocks.3", "down_blocks.0"},
                                              {"input_blocks.6", "down_blocks.1"},
                                              {"input_blocks.9", "down_blocks.2"},
                                              {"input_blocks.11", "down_blocks.3"},
                                              {"middle_block", "mid_block"},
                                              {"output_blocks.2", "up_blocks.0"},
                                              {"output_blocks.5", "up_blocks.1"},
                                              {"output_blocks.8", "up_blocks.2"},
                                              {"output_blocks.11", "up_blocks.3"},
                                              {"out", "conv_out"}};
  int seen = 0;
  UNet::Probe probe = [&](const std::string& name, const Tensor& v) {
    auto it = names.find(name);
    if (it == names.end()) return;
    ++seen;
    CHECK_CLOSE(v, ref["c0.dbg." + it->second], name + " (" + it->second + ")");
  };
  Compute c;
  unet.forward(c, ref["c0.sample"], ref["c0.timestep"], ref["c0.encoder_hidden_states"], nullptr, &probe);
  CHECK(seen == int(names.size()));
}

TEST(sdxl_unet_with_text_time_conditioning_matches_reference) {
  auto m = load_fixture_model("tiny-sdxl/tiny-sdxl.safetensors", {{"unet", "tiny-sdxl/diffusers/unet/config.json"}});
  UNet unet = UNet::bind(*m);
  CHECK(unet.has_text_time() && unet.pooled_dim() == 24 && unet.context_dim() == 40);
  Refs ref = load_refs("tiny-sdxl/ref/unet.safetensors");
  Compute c;
  for (int i = 0; i <= 2; ++i) {
    std::string k = "c" + std::to_string(i) + ".";
    UNetAddedCond added{ref[k + "text_embeds"], ref[k + "time_ids"]};
    Tensor out = unet.forward(c, ref[k + "sample"], ref[k + "timestep"], ref[k + "encoder_hidden_states"], &added);
    CHECK_CLOSE(out, ref[k + "out"], k + "out");
    std::printf("  %sout rel L2 %.3g\n", k.c_str(), rel_err(out, ref[k + "out"]));
  }
  // Without its added conditioning the SDXL U-Net refuses to run.
  CHECK_THROWS_CODE(unet.forward(c, ref["c0.sample"], ref["c0.timestep"], ref["c0.encoder_hidden_states"]), ErrorCode::InvalidOption);
}

TEST(sd2_unet_linear_projection_matches_reference) {
  auto m = load_model(fixture("tiny-sd2/diffusers"), {});  // its own config.json (per-level heads [4, 4, 4, 8])
  UNet unet = UNet::bind(*m);
  Refs ref = load_refs("tiny-sd2/ref/unet.safetensors");
  Compute c;
  for (int i = 0; i <= 5; ++i) {
    std::string k = "c" + std::to_string(i) + ".";
    Tensor out = unet.forward(c, ref[k + "sample"], ref[k + "timestep"], ref[k + "encoder_hidden_states"]);
    CHECK_CLOSE(out, ref[k + "out"], k + "out");
    std::printf("  %sout rel L2 %.3g\n", k.c_str(), rel_err(out, ref[k + "out"]));
  }
}

// 9-channel inpainting U-Net (latent, mask, masked-image latent) on the first
// CFG batch of the reference inpainting loop.
TEST(inpainting_unet_takes_nine_channels_and_matches_reference) {
  auto m = load_fixture_model("tiny-sd1-inpaint/tiny-sd1-inpaint.safetensors", {{"unet", "tiny-sd1-inpaint/diffusers/unet/config.json"}});
  UNet unet = UNet::bind(*m);
  CHECK(unet.is_inpaint() && unet.in_channels() == 9 && unet.out_channels() == 4);
  Refs ref = load_refs("tiny-sd1-inpaint/ref/inpaint9_euler.safetensors");
  Compute c;
  Tensor ctx = ops::concat(c, ref["negative_prompt_embeds"], ref["prompt_embeds"], 0);  // [2, 77, 32]
  Tensor out = unet.forward(c, ref["step.0.model_input"], ref["step.0.t"], ctx);        // [2, 4, 16, 16]
  CHECK_CLOSE(out.slice_rows(0, 1), ref["step.0.eps_uncond"], "eps_uncond");
  CHECK_CLOSE(out.slice_rows(1, 2), ref["step.0.eps_cond"], "eps_cond");
}

// Determinism: the same bits for any thread count.
TEST(unet_output_is_bit_identical_across_thread_counts) {
  auto m = tiny_sd1();
  UNet unet = UNet::bind(*m);
  Refs ref = load_refs("tiny-sd1/ref/unet.safetensors");
  Compute one;
  ThreadPool pool(3);
  Compute three{&pool};
  Tensor a = unet.forward(one, ref["c5.sample"], ref["c5.timestep"], ref["c5.encoder_hidden_states"]);
  Tensor b = unet.forward(three, ref["c5.sample"], ref["c5.timestep"], ref["c5.encoder_hidden_states"]);
  CHECK(a.shape() == b.shape() && std::memcmp(a.data(), b.data(), size_t(a.nbytes())) == 0);
  CHECK_CLOSE(b, ref["c5.out"], "c5.out on 3 threads");
}

// Latent sides that the three downsamples do not divide (an image side a
// multiple of 8 but not of 64): each stride-2 conv rounds up (9 -> 5 -> 3
// -> 2), each upsample meets its skip's size instead of doubling
// (diffusers' forward_upsample_size), so every output block has the size of
// the input block it mirrors and the output that of the input.
TEST(unet_takes_latent_sides_the_downsamples_do_not_divide) {
  auto m = tiny_sd1();
  UNet unet = UNet::bind(*m);
  Refs ref = load_refs("tiny-sd1/ref/unet.safetensors");
  Compute c;
  std::map<std::string, Shape> seen;
  UNet::Probe probe = [&](const std::string& name, const Tensor& v) { seen[name] = v.shape(); };
  Tensor x = ref["c0.sample"].slice_rows(0, 1);  // [1, 4, 16, 16]
  Tensor odd = Tensor::empty(DType::F32, {1, 4, 9, 13});
  for (int64_t ch = 0; ch < 4; ++ch)
    for (int64_t y = 0; y < 9; ++y)
      for (int64_t xx = 0; xx < 13; ++xx) odd.data_as<float>()[(ch * 9 + y) * 13 + xx] = x.data_as<float>()[(ch * 16 + y) * 16 + xx];
  Tensor out = unet.forward(c, odd, ref["c0.timestep"], ref["c0.encoder_hidden_states"], nullptr, &probe);
  CHECK(out.shape() == (Shape{1, 4, 9, 13}));
  bool finite = true;
  for (int64_t i = 0; i < out.numel(); ++i) finite &= std::isfinite(out.data_as<float>()[i]);
  CHECK(finite);
  CHECK(seen["input_blocks.3"] == (Shape{1, 32, 5, 7}) && seen["input_blocks.9"] == (Shape{1, 32, 2, 2}));
  CHECK(seen["middle_block"] == (Shape{1, 64, 2, 2}));
  // output block 3k + 2 upsamples to the size of input block 9 - 3k - 1's
  // output (the skip it meets next): 3x4, 5x7, 9x13.
  CHECK(seen["output_blocks.2"].at(2) == 3 && seen["output_blocks.2"].at(3) == 4);
  CHECK(seen["output_blocks.5"].at(2) == 5 && seen["output_blocks.5"].at(3) == 7);
  CHECK(seen["output_blocks.8"].at(2) == 9 && seen["output_blocks.8"].at(3) == 13);
}

TEST(unet_refuses_inputs_of_the_wrong_shape) {
  auto m = tiny_sd1();
  UNet unet = UNet::bind(*m);
  Refs ref = load_refs("tiny-sd1/ref/unet.safetensors");
  Compute c;
  const Tensor& x = ref["c0.sample"];                   // [1, 4, 16, 16]
  const Tensor& ctx = ref["c0.encoder_hidden_states"];  // [1, 77, 32]
  const Tensor& t = ref["c0.timestep"];
  CHECK_THROWS_CODE(unet.forward(c, Tensor::zeros(DType::F32, {1, 3, 16, 16}), t, ctx), ErrorCode::InvalidOption);
  CHECK_THROWS_CODE(unet.forward(c, Tensor::zeros(DType::F32, {1, 4, 0, 16}), t, ctx), ErrorCode::InvalidOption);
  CHECK_THROWS_CODE(unet.forward(c, x, t, Tensor::zeros(DType::F32, {1, 77, 16})), ErrorCode::InvalidOption);
  CHECK_THROWS_CODE(unet.forward(c, x, Tensor::zeros(DType::F32, {3}), ctx), ErrorCode::InvalidOption);
}

TEST(unet_with_missing_or_inconsistent_weights_is_refused) {
  auto m = tiny_sd1();
  m->weights.set("unet.output_blocks.4.0.emb_layers.1.weight", Tensor::zeros(DType::F32, {5, 128}));
  CHECK_THROWS_CODE(UNet::bind(*m), ErrorCode::ModelFormat);
  auto m2 = tiny_sd1();
  m2->configs["unet"] = R"({"norm_num_groups": 7})";
  CHECK_THROWS_CODE(UNet::bind(*m2), ErrorCode::ModelFormat);
}

// The feed-forward runs in blocks of tokens once its GEGLU input passes 16 MB
// (the tiny fixtures never get there): 70000 tokens x 128 floats = 36 MB,
// three blocks with a shorter last one. Same bits as one pass over all rows; a
// moved-in input becomes the output's storage, a shared one is left alone.
TEST(feed_forward_in_token_blocks_equals_one_pass) {
  const int64_t C = 16, F = 64, N = 70000;
  FeedForward ff;
  ff.proj_in.w = ktest::rand_tensor({2 * F, C}, 31);
  ff.proj_in.b = ktest::rand_tensor({2 * F}, 32);
  ff.proj_out.w = ktest::rand_tensor({C, F}, 33);
  ff.proj_out.b = ktest::rand_tensor({C}, 34);
  const Tensor x = ktest::rand_tensor({1, N, C}, 35);
  ThreadPool pool(2);
  Compute c;
  c.pool = &pool;
  const Tensor one_pass = ff.proj_out(c, ops::geglu(c, ff.proj_in(c, x)));
  const Tensor x_before = x.to_f32();
  const Tensor shared = ff.forward(c, x);
  CHECK(ktest::bit_equal(shared, one_pass) && shared.data() != x.data() && ktest::bit_equal(x, x_before));
  Tensor moved = x.to_f32();
  const void* storage = moved.data();
  const Tensor in_place = ff.forward(c, std::move(moved));
  CHECK(in_place.data() == storage && in_place.shape() == x.shape());
  CHECK(ktest::bit_equal(in_place.reshape({N, C}), one_pass.reshape({N, C})));
}
