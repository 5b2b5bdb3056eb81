// The issue's bad-input list, through load_model(): each hostile or broken
// file is refused with the right code, quickly, and a good model still loads
// afterwards. Files are written to a temp folder at test time.
#define SD_TEST_MAIN
#include <ctime>
#include <filesystem>
#include <string>

#include "core/error.h"
#include "harness.h"
#include "io/model_loader.h"
#include "io/safetensors.h"
#include "test_io_ckpt_writer.h"
#include "test_io_util.h"

using namespace sd;
namespace fs = std::filesystem;

// Sanitizer builds run several times slower; the limit is for release builds.
#if defined(__has_feature)  // clang spells the ASan check differently from gcc
#if __has_feature(address_sanitizer)
#define SD_TEST_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(SD_TEST_ASAN)
static constexpr double kTimeScale = 5;
#elif defined(SD_TEST_EMULATED)  // cross build under qemu (scripts/arm64-tests.mjs)
static constexpr double kTimeScale = 20;
#else
static constexpr double kTimeScale = 1;
#endif

static std::string raw_safetensors(const std::string& header, size_t data_bytes) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = char((uint64_t(header.size()) >> (8 * i)) & 0xff);
  return out + header + std::string(data_bytes, '\x01');
}

// Loads `path`, expects `code` and (if given) `needle` in the message, within
// `limit_s` seconds of CPU time (wall time would measure the machine's load).
static void expect_reject(const std::string& what, const std::string& path, ErrorCode code, const std::string& needle = "",
                          double limit_s = 1.0) {
  const std::clock_t t0 = std::clock();
  bool threw = false;
  try {
    load_model(path, {});
  } catch (const Error& e) {
    threw = true;
    CHECK_MSG(e.code() == code, "%s: wrong code %s: %s", what.c_str(), error_code_name(e.code()), e.what());
    CHECK_MSG(needle.empty() || std::string(e.what()).find(needle) != std::string::npos, "%s: message lacks \"%s\": %s", what.c_str(),
              needle.c_str(), e.what());
  }
  CHECK_MSG(threw, "%s was accepted", what.c_str());
  const double s = double(std::clock() - t0) / CLOCKS_PER_SEC;
  CHECK_MSG(s < limit_s * kTimeScale, "%s took %.2f s", what.c_str(), s);
}

TEST(malformed_safetensors) {
  iotest::TempDir dir("bad-st");
  const std::string ok_entry = R"("a":{"dtype":"F16","shape":[2,3],"data_offsets":[0,12]})";
  const std::pair<const char*, std::string> cases[] = {
      {"empty file", ""},
      {"truncated header length", std::string("\x10\x00\x00", 3)},
      {"header length beyond the file", raw_safetensors("{" + ok_entry + "}", 12).substr(0, 30)},
      {"header not JSON", raw_safetensors("{\"a\": nope}", 12)},
      {"header not an object", raw_safetensors("[1, 2]", 12)},
      {"missing dtype", raw_safetensors(R"({"a":{"shape":[2,3],"data_offsets":[0,12]}})", 12)},
      {"unknown dtype", raw_safetensors(R"({"a":{"dtype":"Q9","shape":[2,3],"data_offsets":[0,12]}})", 12)},
      {"shape disagrees with span", raw_safetensors(R"({"a":{"dtype":"F16","shape":[2,4],"data_offsets":[0,12]}})", 12)},
      {"offsets out of range", raw_safetensors(R"({"a":{"dtype":"F16","shape":[2,3],"data_offsets":[4,16]}})", 12)},
      {"offsets not numbers", raw_safetensors(R"({"a":{"dtype":"F16","shape":[2,3],"data_offsets":[0,"12"]}})", 12)},
      {"offsets overlap",
       raw_safetensors(R"({"a":{"dtype":"F16","shape":[3],"data_offsets":[0,6]},"b":{"dtype":"F16","shape":[3],"data_offsets":[4,10]}})",
                       12)},
      {"shape overflow", raw_safetensors(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,12]}})", 12)},
      {"header length 2^64-1", std::string(8, '\xff') + "{}"},
  };
  for (const auto& [what, bytes] : cases) {
    iotest::write_file(dir.file("m.safetensors"), bytes);
    expect_reject(what, dir.file("m.safetensors"), ErrorCode::ModelFormat);
  }
}

// Tensors of the tiny-sd1 single file, optionally filtered / modified.
static std::vector<iotest::OutTensor> tiny_sd1_tensors() {
  std::vector<iotest::OutTensor> out;
  for (const auto& [name, t] : read_safetensors(sdtest::fixture("tiny-sd1/tiny-sd1.safetensors")).tensors)
    out.push_back(iotest::out_tensor(name, t));
  return out;
}

static void write_st(const std::string& path, const std::vector<iotest::OutTensor>& ts) {
  iotest::write_file(path, iotest::safetensors_bytes(ts));
}

TEST(valid_files_that_are_not_sd_checkpoints) {
  iotest::TempDir dir("not-sd");
  std::vector<iotest::OutTensor> vae_only;
  for (auto& t : tiny_sd1_tensors())
    if (t.name.rfind("first_stage_model.", 0) == 0) vae_only.push_back(t);
  write_st(dir.file("vae.safetensors"), vae_only);
  expect_reject("VAE-only file", dir.file("vae.safetensors"), ErrorCode::ModelUnsupported, "vae");

  write_st(dir.file("other.safetensors"), {{"encoder.weight", "F32", {2, 2}, std::string(16, '\0')}});
  expect_reject("unrelated tensors", dir.file("other.safetensors"), ErrorCode::ModelUnsupported, "U-Net");

  auto no_te = tiny_sd1_tensors();
  std::vector<iotest::OutTensor> kept;
  for (auto& t : no_te)
    if (t.name.rfind("cond_stage_model.", 0) != 0) kept.push_back(t);
  write_st(dir.file("no-te.safetensors"), kept);
  expect_reject("no text encoder", dir.file("no-te.safetensors"), ErrorCode::ModelUnsupported, "text encoder");

  auto depth = tiny_sd1_tensors();  // a 5-channel (depth-conditioned) U-Net
  for (auto& t : depth)
    if (t.name == "model.diffusion_model.input_blocks.0.0.weight") {
      t.shape = {32, 5, 3, 3};
      t.bytes = std::string(32 * 5 * 9 * 2, '\0');
    }
  write_st(dir.file("depth.safetensors"), depth);
  expect_reject("5-channel U-Net", dir.file("depth.safetensors"), ErrorCode::ModelUnsupported, "5 input channels");
}

TEST(wrong_shaped_weights) {
  iotest::TempDir dir("shape");
  // Same bytes, wrong shape: only the shape checks can catch these.
  const std::pair<const char*, sd::Shape> cases[] = {
      {"model.diffusion_model.time_embed.0.weight", {32, 128}},
      {"model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight", {16, 64}},
      {"cond_stage_model.transformer.text_model.encoder.layers.2.self_attn.q_proj.weight", {16, 64}},
      {"first_stage_model.post_quant_conv.weight", {2, 8, 1, 1}},
      {"model.diffusion_model.out.2.weight", {4, 32, 9, 1}},
  };
  for (const auto& [name, shape] : cases) {
    auto ts = tiny_sd1_tensors();
    bool found = false;
    for (auto& t : ts)
      if (t.name == name) {
        t.shape = shape;
        found = true;
      }
    CHECK_MSG(found, "%s not in the fixture", name);
    write_st(dir.file("w.safetensors"), ts);
    std::string canonical = std::string(name);
    for (const char* p : {"model.diffusion_model.", "first_stage_model.", "cond_stage_model.transformer."})
      if (canonical.rfind(p, 0) == 0)
        canonical = std::string(p[0] == 'm' ? "unet." : p[0] == 'f' ? "vae." : "te1.") + canonical.substr(std::string(p).size());
    expect_reject(std::string("wrong shape of ") + name, dir.file("w.safetensors"), ErrorCode::ModelFormat, canonical);
  }
}

TEST(weights_must_be_float_and_non_empty) {
  iotest::TempDir dir("dtype");
  auto ts = tiny_sd1_tensors();
  for (auto& t : ts)
    if (t.name == "model.diffusion_model.out.2.bias") t.dtype = "I16";  // same byte size as F16
  write_st(dir.file("int.safetensors"), ts);
  expect_reject("integer weight", dir.file("int.safetensors"), ErrorCode::ModelFormat, "unet.out.2.bias");

  ts = tiny_sd1_tensors();
  for (auto& t : ts)
    if (t.name == "model.diffusion_model.out.0.bias") {
      t.shape = {0};
      t.bytes.clear();
    }
  write_st(dir.file("empty.safetensors"), ts);
  expect_reject("empty weight", dir.file("empty.safetensors"), ErrorCode::ModelFormat, "unet.out.0.bias");
}

TEST(broken_diffusers_folders) {
  iotest::TempDir dir("folders");
  const std::string base = dir.file("m");
  iotest::copy_tree(sdtest::fixture("tiny-sd1/diffusers"), base);
  fs::remove_all(base + "/unet");
  expect_reject("folder without unet/", base, ErrorCode::ModelUnsupported, "unet");

  fs::remove_all(base);
  iotest::copy_tree(sdtest::fixture("tiny-sd1/diffusers"), base);
  fs::remove(base + "/model_index.json");
  expect_reject("folder without model_index.json", base, ErrorCode::ModelUnsupported, "model_index.json");

  fs::remove_all(base);
  iotest::copy_tree(sdtest::fixture("tiny-sd1/diffusers"), base);
  iotest::write_file(base + "/unet/config.json", "{\"layers_per_block\": ");
  expect_reject("truncated config.json", base, ErrorCode::ModelFormat, "config.json");

  fs::remove_all(base);
  iotest::copy_tree(sdtest::fixture("tiny-sd1/diffusers"), base);
  iotest::write_file(base + "/unet/config.json", "{\"layers_per_block\": 3}");
  expect_reject("layers_per_block disagrees with the weights", base, ErrorCode::ModelFormat, "layers_per_block");

  fs::remove_all(base);
  iotest::copy_tree(sdtest::fixture("tiny-sd1/diffusers"), base);
  fs::remove(base + "/unet/diffusion_pytorch_model.safetensors");
  expect_reject("unet/ without weights", base, ErrorCode::ModelFormat, "unet");

  fs::remove_all(base);
  iotest::copy_tree(sdtest::fixture("tiny-sd1/diffusers"), base);
  write_st(base + "/unet/diffusion_pytorch_model.safetensors",
           {{"controlnet_cond_embedding.conv_in.weight", "F32", {1}, std::string(4, '\0')}});
  expect_reject("unknown U-Net tensor", base, ErrorCode::ModelUnsupported, "controlnet_cond_embedding");

  fs::remove_all(base);
  iotest::copy_tree(sdtest::fixture("tiny-sd1/diffusers"), base);
  iotest::write_file(base + "/unet/diffusion_pytorch_model.safetensors", std::string(4, 'x'));
  expect_reject("truncated unet weights", base, ErrorCode::ModelFormat, "diffusion_pytorch_model.safetensors");

  // A sharded checkpoint's index may only name files beside it: no parent
  // folder, no other folder, no Windows drive or alternate data stream.
  auto json_str = [](const std::string& v) {
    std::string out = "\"";
    for (char ch : v) out += ch == '\\' || ch == '"' ? std::string("\\") + ch : std::string(1, ch);
    return out + "\"";
  };
  for (const char* shard :
       {"../unet.safetensors", "sub/x.safetensors", "..\\x.safetensors", "C:x.safetensors", "x.safetensors:ads", ".."}) {
    fs::remove_all(base);
    iotest::copy_tree(sdtest::fixture("tiny-sd1/diffusers"), base);
    fs::remove(base + "/unet/diffusion_pytorch_model.safetensors");
    iotest::write_file(base + "/unet/diffusion_pytorch_model.safetensors.index.json",
                       std::string("{\"weight_map\": {\"conv_in.weight\": ") + json_str(shard) + "}}");
    expect_reject(std::string("shard name ") + shard, base, ErrorCode::ModelFormat, "invalid shard file name");
  }

  expect_reject("missing path", dir.file("nope"), ErrorCode::ModelNotFound);
}

TEST(hostile_and_truncated_ckpt) {
  iotest::TempDir dir("ckpt");
  iotest::PickleWriter p;
  p.global("os", "system").str("echo pwned").op('\x85').op('R');
  iotest::write_file(dir.file("evil.ckpt"), iotest::zip_bytes({{"archive/data.pkl", p.finish()}}));
  expect_reject("pickle calling os.system", dir.file("evil.ckpt"), ErrorCode::ModelUnsupported, "os.system");

  iotest::PickleWriter q;
  q.op('}').mark().str("a").tensor("FloatStorage", "0", 1, 0, {1}, {1}).op('u');
  std::string zip = iotest::zip_bytes({{"archive/data.pkl", q.finish()}, {"archive/data/0", std::string(4, '\0')}});
  iotest::write_file(dir.file("cut.ckpt"), zip.substr(0, zip.size() - 10));
  expect_reject("truncated zip", dir.file("cut.ckpt"), ErrorCode::ModelFormat, "zip");
}

TEST(huge_headers_are_fast) {
  iotest::TempDir dir("huge");
  // 200k valid one-element tensors: a well-formed file that is not a model.
  std::string header = "{";
  const int n = 200000;
  for (int i = 0; i < n; ++i) {
    if (i) header += ",";
    header += "\"t" + std::to_string(i) + "\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[" + std::to_string(4 * i) + "," +
              std::to_string(4 * i + 4) + "]}";
  }
  iotest::write_file(dir.file("many.safetensors"), raw_safetensors(header + "}", 4 * n));
  expect_reject("200k-tensor header", dir.file("many.safetensors"), ErrorCode::ModelUnsupported, "U-Net", 1.0);
  // The same plus one entry overlapping the first: found after parsing all.
  const std::string bad = header + R"(,"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})";
  iotest::write_file(dir.file("many-bad.safetensors"), raw_safetensors(bad, 4 * n));
  expect_reject("200k-tensor header with an overlap", dir.file("many-bad.safetensors"), ErrorCode::ModelFormat, "overlap", 1.0);
}

TEST(process_still_healthy) {
  auto m = load_model(sdtest::fixture("tiny-sd1/tiny-sd1.safetensors"), {});
  CHECK(m->info.family == "sd1");
}
