// GGUF writer and `convert`: a file of every tensor type re-reads with the
// same names, shapes, types and bytes; converting tiny-sd1 gives the
// converter fixture's tensor names and shapes (same layout), general.alignment
// 32, quantized matmul weights identical to on-load quantization, and a model
// whose U-Net matches the safetensors one within the format's error.
#define SD_TEST_MAIN
#include <cstring>
#include <filesystem>
#include <map>
#include <set>

#include "core/error.h"
#include "harness.h"
#include "io/clip_vocab.h"
#include "io/gguf.h"
#include "io/gguf_writer.h"
#include "io/model_loader.h"
#include "io/safetensors.h"
#include "models/unet.h"
#include "quant/blocks.h"
#include "quant/convert_model.h"
#include "test_io_util.h"
#include "test_model_fixtures.h"

using namespace sd;

TEST(written_gguf_rereads_identically) {
  const DType types[] = {DType::F32,  DType::F16,  DType::BF16, DType::Q8_0, DType::Q4_0, DType::Q4_1, DType::Q5_0,
                         DType::Q5_1, DType::Q2_K, DType::Q3_K, DType::Q4_K, DType::Q5_K, DType::Q6_K};
  std::vector<GgufTensorSpec> specs;
  std::vector<std::vector<uint8_t>> data;
  int i = 0;
  for (DType t : types) {
    specs.push_back({std::string("t.") + dtype_name(t), t, {3, 2, 512}});
    std::vector<uint8_t> bytes(size_t(dtype_bytes_for(t, 3 * 2 * 512)));
    for (size_t k = 0; k < bytes.size(); ++k) bytes[k] = uint8_t(k * 31 + i * 7);
    data.push_back(bytes);
    ++i;
  }
  GgufMetadata meta;
  meta.strings = {{"general.name", "test"}};
  meta.string_arrays = {{"tokenizer.ggml.tokens", {"a", "bc", ""}}};
  iotest::TempDir dir("gguf-all");  // outlives the mapped TensorFile below (Windows cannot delete a mapped file)
  const std::string path = dir.file("all.gguf");
  size_t calls = 0;
  write_gguf(
      path, specs, meta, [&](size_t k, uint8_t* dst) { std::memcpy(dst, data[k].data(), data[k].size()); },
      [&](size_t done, size_t total) { calls += done <= total; });
  CHECK(calls == specs.size());
  TensorFile f = read_gguf(path);
  CHECK(f.metadata.at("general.alignment") == "32" && f.metadata.at("general.name") == "test");
  CHECK(f.tensors.size() == specs.size());
  for (size_t k = 0; k < f.tensors.size() && k < specs.size(); ++k) {
    const auto& [name, t] = f.tensors[k];
    CHECK_MSG(name == specs[k].name && t.dtype() == specs[k].dtype && t.shape() == specs[k].shape, "%s", name.c_str());
    CHECK_MSG(std::memcmp(t.data(), data[k].data(), data[k].size()) == 0, "%s bytes differ", name.c_str());
    CHECK(reinterpret_cast<uintptr_t>(t.data()) % 32 == 0);
  }
  CHECK_THROWS_CODE(write_gguf(dir.file("bad.gguf"), {{"bad", DType::Q8_0, {2, 3, 3}}}, {}, [](size_t, uint8_t*) {}),
                    ErrorCode::InvalidOption);
}

// A write that fails part-way (here: the tensor source throws, as a corrupt
// source tensor or a full disk would) leaves no file at the output path, no
// temporary file, and an earlier file at that path untouched.
TEST(failed_write_leaves_no_partial_file) {
  iotest::TempDir dir("gguf-fail");
  const std::vector<GgufTensorSpec> specs = {{"a", DType::F32, {4}}, {"b", DType::F32, {4}}};
  auto fill_then_fail = [](size_t i, uint8_t* dst) {
    if (i == 1) fail(ErrorCode::ModelFormat, "source tensor unreadable");
    std::memset(dst, 0, 16);
  };
  auto partial_files = [&] {
    int n = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir.path)) n += e.path().extension() == ".partial";
    return n;
  };
  const std::string fresh = dir.file("fresh.gguf");
  CHECK_THROWS_CODE(write_gguf(fresh, specs, {}, fill_then_fail), ErrorCode::ModelFormat);
  CHECK(!std::filesystem::exists(fresh));
  CHECK(partial_files() == 0);

  const std::string existing = dir.file("existing.gguf");
  write_gguf(existing, specs, {}, [](size_t i, uint8_t* dst) { std::memset(dst, int(i) + 1, 16); });
  const auto before = std::filesystem::file_size(existing);
  CHECK_THROWS_CODE(write_gguf(existing, specs, {}, fill_then_fail), ErrorCode::ModelFormat);
  CHECK(std::filesystem::file_size(existing) == before);
  CHECK(partial_files() == 0);
  TensorFile f = read_gguf(existing);
  CHECK(f.tensors.size() == 2 && static_cast<const uint8_t*>(f.tensors[1].second.data())[0] == 2);
  CHECK_THROWS_CODE(write_gguf(dir.file("no/such/folder/x.gguf"), specs, {}, fill_then_fail), ErrorCode::Io);
  // Two writes to one path at once each use their own temporary file: the
  // second, started while the first is part-way, leaves the first intact.
  const std::string both = dir.file("both.gguf");
  write_gguf(both, specs, {}, [&](size_t i, uint8_t* dst) {
    std::memset(dst, 7, 16);
    if (i == 0) write_gguf(both, specs, {}, [](size_t, uint8_t* d) { std::memset(d, 9, 16); });
  });
  TensorFile b = read_gguf(both);
  CHECK(b.tensors.size() == 2 && static_cast<const uint8_t*>(b.tensors[0].second.data())[0] == 7 &&
        static_cast<const uint8_t*>(b.tensors[1].second.data())[0] == 7);
}

TEST(convert_matches_the_converter_layout_and_on_load_quantization) {
  iotest::TempDir dir("gguf-q8");
  const std::string out = dir.file("tiny.q8_0.gguf");
  quant::convert_to_gguf(sdtest::fixture("tiny-sd1/tiny-sd1.safetensors"), out, "q8_0");
  TensorFile ours = read_gguf(out), theirs = read_gguf(sdtest::fixture("tiny-sd1/gguf/tiny-sd1.q8_0.gguf"));
  CHECK(ours.metadata.at("general.alignment") == "32");
  CHECK(ours.tensors.size() == theirs.tensors.size());
  int same_type = 0, matmul_same = 0;
  for (size_t k = 0; k < ours.tensors.size() && k < theirs.tensors.size(); ++k) {
    const auto& [a, ta] = ours.tensors[k];
    const auto& [b, tb] = theirs.tensors[k];
    CHECK_MSG(a == b && ta.shape() == tb.shape(), "tensor %zu: %s %s vs %s %s", k, a.c_str(), shape_str(ta.shape()).c_str(), b.c_str(),
              shape_str(tb.shape()).c_str());
    same_type += ta.dtype() == tb.dtype();
    // Every 2-D weight gets the converter's type; it also quantizes 1-D norm weights, which we keep float.
    if (ta.dim() == 2) {
      CHECK_MSG(ta.dtype() == tb.dtype(), "%s: %s vs %s", a.c_str(), dtype_name(ta.dtype()), dtype_name(tb.dtype()));
      matmul_same += ta.dtype() == DType::Q8_0;
    }
  }
  std::printf("  %d of %zu tensor types equal to the converter's; %d q8_0 matmuls\n", same_type, ours.tensors.size(), matmul_same);
  CHECK(matmul_same > 100);

  LoadOptions lo;
  lo.config_path = sdtest::fixture("tiny-sd1/diffusers");
  auto g = load_model(out, lo);
  lo.weight_type = "q8_0";
  auto q = load_model(sdtest::fixture("tiny-sd1/tiny-sd1.safetensors"), lo);
  CHECK(g->info.family == "sd1" && g->info.format == "gguf");
  int compared = 0;
  for (const auto& [name, t] : g->weights.all()) {
    const Tensor& u = q->weights.get(name);
    if (t.dtype() != DType::Q8_0 || u.dtype() != DType::Q8_0) continue;
    CHECK_MSG(std::memcmp(t.data(), u.data(), size_t(t.nbytes())) == 0, "%s differs from on-load q8_0", name.c_str());
    ++compared;
  }
  CHECK(compared > 100);  // the loop above must have compared the matmuls
  modeltest::Refs ref = modeltest::load_refs("tiny-sd1/ref/unet.safetensors");
  Compute c;
  Tensor got = UNet::bind(*g).forward(c, ref["c0.sample"], ref["c0.timestep"], ref["c0.encoder_hidden_states"]);
  const double e = sdtest::rel_l2(got.data_as<float>(), ref["c0.out"].data_as<float>(), size_t(got.numel()));
  std::printf("  converted q8_0 U-Net rel L2 vs reference %.4f\n", e);
  CHECK(e <= 0.05);  // q8_0 on linear weights only (see test_quant_model)
  CHECK_THROWS_CODE(quant::convert_to_gguf(sdtest::fixture("tiny-sd1/tiny-sd1.safetensors"), dir.file("q9.gguf"), "q9"),
                    ErrorCode::InvalidOption);
}

// SDXL: convert writes the single-file names back (CLIP-L under
// conditioner.embedders.0.transformer., OpenCLIP under
// conditioner.embedders.1.model. with q/k/v fused into attn.in_proj and
// text_projection transposed back), so an f16 conversion of the f16 single
// file holds every one of its tensors under the same name with the same
// bytes; the diffusers folder converts to the same file contents.
TEST(sdxl_convert_restores_the_single_file_layout) {
  iotest::TempDir dir("gguf-sdxl");
  const std::string source = sdtest::fixture("tiny-sdxl/tiny-sdxl.safetensors");
  const std::string from_file = dir.file("file.gguf"), from_folder = dir.file("folder.gguf");
  quant::convert_to_gguf(source, from_file, "f16");
  quant::convert_to_gguf(sdtest::fixture("tiny-sdxl/diffusers"), from_folder, "f16");
  TensorFile src = read_safetensors(source), a = read_gguf(from_file), b = read_gguf(from_folder);
  std::map<std::string, const Tensor*> written;
  for (const auto& [name, t] : a.tensors) written[name] = &t;
  int same = 0;
  for (const auto& [name, t] : src.tensors) {
    auto it = written.find(name);
    CHECK_MSG(it != written.end(), "%s is missing from the GGUF", name.c_str());
    if (it == written.end()) continue;
    const Tensor& w = *it->second;
    const bool equal = w.shape() == t.shape() && w.dtype() == DType::F16 && t.dtype() == DType::F16 &&
                       std::memcmp(w.data(), t.data(), size_t(t.nbytes())) == 0;
    CHECK_MSG(equal, "%s differs (%s %s vs %s %s)", name.c_str(), dtype_name(w.dtype()), shape_str(w.shape()).c_str(),
              dtype_name(t.dtype()), shape_str(t.shape()).c_str());
    same += equal;
  }
  std::printf("  %d of %zu single-file tensors written back identically (%zu in the GGUF)\n", same, src.tensors.size(), a.tensors.size());
  CHECK(a.tensors.size() == src.tensors.size());
  CHECK(b.tensors.size() == a.tensors.size());
  for (size_t k = 0; k < a.tensors.size() && k < b.tensors.size(); ++k)
    CHECK_MSG(a.tensors[k].first == b.tensors[k].first && a.tensors[k].second.shape() == b.tensors[k].second.shape(), "%s vs %s",
              a.tensors[k].first.c_str(), b.tensors[k].first.c_str());
  LoadOptions lo;
  lo.config_path = sdtest::fixture("tiny-sdxl/diffusers");
  CHECK(load_model(from_file, lo)->info.family == "sdxl");
  // q8_0: whole-block matmul rows take the type; the fused in_proj's rows of 24 are not whole blocks and stay f16.
  quant::convert_to_gguf(source, dir.file("q8.gguf"), "q8_0");
  {
    TensorFile q8 = read_gguf(dir.file("q8.gguf"));
    int quantized = 0;
    for (const auto& [name, t] : q8.tensors) {
      quantized += t.dtype() == DType::Q8_0;
      if (name == "conditioner.embedders.1.model.transformer.resblocks.0.attn.in_proj_weight")
        CHECK(t.dtype() == DType::F16 && t.shape() == (Shape{72, 24}));
    }
    CHECK_MSG(quantized > 100, "%d q8_0 tensors", quantized);
  }
  CHECK(load_model(dir.file("q8.gguf"), lo)->info.family == "sdxl");
}

// The first difference between two models' weights ("" if none): names,
// dtypes, shapes and values.
static std::string weight_difference(const LoadedModel& a, const LoadedModel& b) {
  if (a.weights.all().size() != b.weights.all().size()) return "tensor counts differ";
  for (const auto& [name, t] : a.weights.all()) {
    const Tensor* u = b.weights.find(name);
    if (!u || u->dtype() != t.dtype() || u->shape() != t.shape()) return name + ": missing, or another dtype or shape";
    const Tensor fa = t.to_f32(), fb = u->to_f32();
    if (std::memcmp(fa.data(), fb.data(), size_t(fa.nbytes())) != 0) return name + ": values differ";
  }
  return "";
}

// The prediction type travels: a `v_pred` marker (SDXL v-prediction
// releases; `ztsnr` beside it) makes a file v-prediction, and convert keeps
// both markers; convert writes modelspec.prediction_type, so an epsilon SD 2.x
// GGUF (where v is the default) loads back as epsilon; safetensors
// __metadata__ modelspec.prediction_type is read too.
TEST(prediction_type_travels_through_convert) {
  iotest::TempDir dir("gguf-pred");
  std::vector<iotest::OutTensor> xl;
  for (const auto& [name, t] : read_safetensors(sdtest::fixture("tiny-sdxl/tiny-sdxl.safetensors")).tensors)
    xl.push_back(iotest::out_tensor(name, t));
  CHECK(load_model(sdtest::fixture("tiny-sdxl/tiny-sdxl.safetensors"), {})->info.prediction == "epsilon");
  for (const char* marker : {"v_pred", "ztsnr"}) xl.push_back({marker, "F32", {0}, ""});
  iotest::write_file(dir.file("xl-v.safetensors"), iotest::safetensors_bytes(xl));
  CHECK(load_model(dir.file("xl-v.safetensors"), {})->info.prediction == "v");
  quant::convert_to_gguf(dir.file("xl-v.safetensors"), dir.file("xl-v.gguf"), "q8_0");
  TensorFile g = read_gguf(dir.file("xl-v.gguf"));
  int markers = 0;
  for (const auto& [name, t] : g.tensors) markers += (name == "v_pred" || name == "ztsnr") && t.shape() == Shape{1};
  CHECK(markers == 2);
  CHECK(g.metadata["modelspec.prediction_type"] == "v");
  CHECK(load_model(dir.file("xl-v.gguf"), {})->info.prediction == "v");

  const std::string sd2 = dir.file("sd2-eps");
  iotest::copy_tree(sdtest::fixture("tiny-sd2/diffusers"), sd2);
  const std::string sched = sd2 + "/scheduler/scheduler_config.json";
  std::string cfg = iotest::read_file(sched);
  const size_t at = cfg.find("\"v_prediction\"");
  CHECK(at != std::string::npos);
  if (at != std::string::npos) iotest::write_file(sched, cfg.replace(at, 14, "\"epsilon\""));
  CHECK(load_model(sd2, {})->info.prediction == "epsilon");
  quant::convert_to_gguf(sd2, dir.file("sd2-eps.gguf"), "f16");
  auto back = load_model(dir.file("sd2-eps.gguf"), {});
  CHECK(back->info.family == "sd2" && back->info.prediction == "epsilon");
  TensorFile eps = read_gguf(dir.file("sd2-eps.gguf"));
  for (const auto& [name, t] : eps.tensors) CHECK_MSG(name != "v_pred", "an epsilon model got a v_pred marker");

  std::vector<iotest::OutTensor> sd1;
  for (const auto& [name, t] : read_safetensors(sdtest::fixture("tiny-sd1/tiny-sd1.safetensors")).tensors)
    sd1.push_back(iotest::out_tensor(name, t));
  iotest::write_file(dir.file("sd1-v.safetensors"), iotest::safetensors_bytes(sd1, {{"modelspec.prediction_type", "v"}}));
  CHECK(load_model(dir.file("sd1-v.safetensors"), {})->info.prediction == "v");
}

// SD 2.x: a single file converts with every tensor it holds (the last
// OpenCLIP layer, text_projection and logit_scale the engine never runs
// included); a diffusers folder, which lacks that layer, gets a zero one.
// Both load back to the folder's weights.
TEST(sd2_convert_writes_the_single_file_layout) {
  LoadOptions lo;
  lo.config_path = sdtest::fixture("tiny-sd2/diffusers");
  auto folder = load_model(sdtest::fixture("tiny-sd2/diffusers"), {});
  iotest::TempDir dir("gguf-sd2");
  const std::string single = dir.file("tiny-sd2.safetensors");
  // The file says it is v-prediction (modelspec), so convert need not probe the random tiny U-Net.
  iotest::write_file(single, iotest::safetensors_bytes(iotest::sd2_single_file(*folder), {{"modelspec.prediction_type", "v"}}));
  quant::convert_to_gguf(single, dir.file("a.gguf"), "f16");
  {
    TensorFile src = read_safetensors(single), a = read_gguf(dir.file("a.gguf"));
    std::map<std::string, const Tensor*> written;
    for (const auto& [name, t] : a.tensors) written[name] = &t;
    CHECK_MSG(a.tensors.size() == src.tensors.size() + 1, "%zu vs %zu + v_pred", a.tensors.size(), src.tensors.size());
    CHECK(written.count("v_pred") == 1);
    for (const auto& [name, t] : src.tensors) {
      auto it = written.find(name);
      CHECK_MSG(it != written.end(), "%s is missing from the GGUF", name.c_str());
      if (it == written.end()) continue;
      // f32 sources (text_projection, logit_scale) hold f16-exact values; the 0-D logit_scale becomes [1].
      const Tensor w = it->second->to_f32(), v = t.to_f32();
      CHECK_MSG(it->second->dtype() == DType::F16 && w.numel() == v.numel() && (t.dim() == 0 || w.shape() == v.shape()) &&
                    std::memcmp(w.data(), v.data(), size_t(v.nbytes())) == 0,
                "%s differs", name.c_str());
    }
  }
  auto from_single = load_model(dir.file("a.gguf"), lo);
  CHECK(from_single->info.family == "sd2" && from_single->info.prediction == "v");
  const std::string d1 = weight_difference(*folder, *from_single);
  CHECK_MSG(d1.empty(), "%s", d1.c_str());
  // Converting the GGUF again is a fixed point: the carried tensors travel on.
  quant::convert_to_gguf(dir.file("a.gguf"), dir.file("b.gguf"), "f16");
  {
    TensorFile a = read_gguf(dir.file("a.gguf")), b = read_gguf(dir.file("b.gguf"));
    CHECK(a.tensors.size() == b.tensors.size());
    for (size_t k = 0; k < a.tensors.size() && k < b.tensors.size(); ++k)
      CHECK_MSG(a.tensors[k].first == b.tensors[k].first && a.tensors[k].second.shape() == b.tensors[k].second.shape() &&
                    std::memcmp(a.tensors[k].second.data(), b.tensors[k].second.data(), size_t(a.tensors[k].second.nbytes())) == 0,
                "%s", a.tensors[k].first.c_str());
  }

  quant::convert_to_gguf(sdtest::fixture("tiny-sd2/diffusers"), dir.file("c.gguf"), "f16");
  {
    TensorFile c = read_gguf(dir.file("c.gguf"));
    std::map<std::string, const Tensor*> by_name;
    for (const auto& [name, t] : c.tensors) by_name[name] = &t;
    const std::string r0 = "cond_stage_model.model.transformer.resblocks.0.", r3 = "cond_stage_model.model.transformer.resblocks.3.";
    int zero_layer = 0;
    for (const auto& [name, t] : c.tensors) {
      if (name.rfind(r3, 0) != 0) continue;
      ++zero_layer;
      const Tensor* first = by_name[r0 + name.substr(r3.size())];
      CHECK_MSG(first && first->shape() == t.shape(), "%s has no layer-0 twin of its shape", name.c_str());
      const Tensor f = t.to_f32();
      for (int64_t k = 0; k < f.numel(); ++k) CHECK_MSG(f.data_as<float>()[k] == 0.0f, "%s[%lld] is not zero", name.c_str(), (long long)k);
    }
    CHECK_MSG(zero_layer == 12, "%d tensors in the zero layer", zero_layer);
    CHECK(by_name.count("cond_stage_model.model.transformer.resblocks.4.attn.in_proj_weight") == 0);
  }
  const std::string d2 = weight_difference(*folder, *load_model(dir.file("c.gguf"), lo));
  CHECK_MSG(d2.empty(), "%s", d2.c_str());
}

// convert embeds the source's own tokenizer (io/clip_vocab.h): a diffusers
// folder's vocab.json + merges.txt, or the vocabulary a GGUF already carries;
// a single file has none to carry.
TEST(convert_carries_the_tokenizer_vocabulary) {
  iotest::TempDir dir("gguf-vocab");
  const ClipVocab folder = read_clip_vocab_folder(sdtest::fixture("tiny-sd1/diffusers/tokenizer"));
  CHECK(folder.tokens.size() == 49408 && folder.tokens[0] == "!" && folder.tokens[49406] == "<|startoftext|>" &&
        folder.tokens[49407] == "<|endoftext|>");
  CHECK(folder.merges.size() == 48894 && folder.merges[0] == "i n");

  const std::string first = dir.file("from-folder.gguf"), second = dir.file("from-gguf.q8_0.gguf"), bare = dir.file("bare.gguf");
  quant::convert_to_gguf(sdtest::fixture("tiny-sd1/diffusers"), first, "f16");
  {
    TensorFile f = read_gguf(first);
    CHECK(f.metadata.at("tokenizer.ggml.model") == "clip");
    CHECK(f.string_arrays.at("tokenizer.ggml.tokens") == folder.tokens);
    CHECK(f.string_arrays.at("tokenizer.ggml.merges") == folder.merges);
  }
  LoadOptions lo;
  lo.config_path = sdtest::fixture("tiny-sd1/diffusers");
  quant::convert_to_gguf(first, second, "q8_0");
  auto m = load_model(second, lo);
  CHECK(m->vocab.tokens == folder.tokens && m->vocab.merges == folder.merges);
  quant::convert_to_gguf(sdtest::fixture("tiny-sd1/tiny-sd1.safetensors"), bare, "f16");
  CHECK(load_model(bare, lo)->vocab.empty());
  CHECK(read_gguf(bare).metadata.count("tokenizer.ggml.model") == 0);
}

// A file that says it carries a CLIP vocabulary must carry a usable one.
TEST(malformed_embedded_vocabulary_is_refused) {
  iotest::TempDir dir("gguf-badvocab");
  const std::vector<GgufTensorSpec> one = {{"t", DType::F32, {4}}};
  auto zeros = [](size_t, uint8_t* dst) { std::memset(dst, 0, 16); };
  auto with = [&](const std::string& name, GgufMetadata meta) {
    write_gguf(dir.file(name), one, meta, zeros);
    return read_gguf(dir.file(name));
  };
  GgufMetadata clip;
  clip.strings = {{"tokenizer.ggml.model", "clip"}};
  CHECK_THROWS_CODE(clip_vocab_from_gguf(with("no-arrays.gguf", clip)), ErrorCode::ModelFormat);
  GgufMetadata no_eos = clip;
  no_eos.string_arrays = {{"tokenizer.ggml.tokens", {"a", "<|startoftext|>"}}, {"tokenizer.ggml.merges", {"a b"}}};
  CHECK_THROWS_CODE(clip_vocab_from_gguf(with("no-eos.gguf", no_eos)), ErrorCode::ModelFormat);
  GgufMetadata bad_merge = clip;
  bad_merge.string_arrays = {{"tokenizer.ggml.tokens", {"<|startoftext|>", "<|endoftext|>"}}, {"tokenizer.ggml.merges", {"ab"}}};
  CHECK_THROWS_CODE(clip_vocab_from_gguf(with("bad-merge.gguf", bad_merge)), ErrorCode::ModelFormat);
  GgufMetadata other;  // another tokenizer model is not ours to read
  other.strings = {{"tokenizer.ggml.model", "llama"}};
  other.string_arrays = {{"tokenizer.ggml.tokens", {"x"}}};
  CHECK(clip_vocab_from_gguf(with("llama.gguf", other)).empty());
}

TEST(f16_convert_is_bit_identical_to_the_converter_f16_file) {
  iotest::TempDir dir("gguf-f16");
  const std::string out = dir.file("tiny.f16.gguf");
  quant::convert_to_gguf(sdtest::fixture("tiny-sd1/tiny-sd1.safetensors"), out, "f16");
  TensorFile ours = read_gguf(out), theirs = read_gguf(sdtest::fixture("tiny-sd1/gguf/tiny-sd1.f16.gguf"));
  CHECK(ours.tensors.size() == theirs.tensors.size());
  for (size_t k = 0; k < ours.tensors.size() && k < theirs.tensors.size(); ++k) {
    const Tensor& a = ours.tensors[k].second;
    const Tensor& b = theirs.tensors[k].second;
    CHECK_MSG(ours.tensors[k].first == theirs.tensors[k].first && a.dtype() == b.dtype() && a.shape() == b.shape() &&
                  std::memcmp(a.data(), b.data(), size_t(a.nbytes())) == 0,
              "%s", ours.tensors[k].first.c_str());
  }
}
