// PyTorch zip checkpoints: hand-built torch.save-style files round-trip
// tensors (views where contiguous, copies where strided), a whole tiny-sd1
// .ckpt loads to the same weights as its .safetensors, and hostile pickles
// are refused without running anything.
#define SD_TEST_MAIN
#include <cstring>
#include <filesystem>
#include <string>

#include "core/error.h"
#include "harness.h"
#include "io/ckpt.h"
#include "io/model_loader.h"
#include "io/safetensors.h"
#include "io/zip.h"
#include "test_io_ckpt_writer.h"
#include "test_io_util.h"

using namespace sd;
using iotest::PickleWriter;

static std::string floats(std::initializer_list<float> v) {
  std::string s;
  for (float f : v) s.append(reinterpret_cast<const char*>(&f), 4);
  return s;
}

static std::string halves(std::initializer_list<float> v) {
  std::string s;
  for (float f : v) {
    uint16_t h = f32_to_f16(f);
    s.append(reinterpret_cast<const char*>(&h), 2);
  }
  return s;
}

// {"state_dict": OrderedDict(a, b, t), "epoch": 3} with a _metadata BUILD.
static std::string small_checkpoint(bool zip64) {
  PickleWriter p;
  p.op('}').op('q').raw() += '\0';
  p.mark().str("state_dict").empty_ordered_dict();
  p.mark();
  p.str("model.a").tensor("FloatStorage", "0", 6, 0, {2, 3}, {3, 1});
  p.str("model.b").global("torch._utils", "_rebuild_parameter").mark();
  p.tensor("HalfStorage", "1", 5, 1, {4}, {1});
  p.op('\x88').empty_ordered_dict().op('t').op('R');
  p.str("model.t").tensor("FloatStorage", "2", 6, 0, {3, 2}, {1, 3});
  p.str("model.shared").op('h').raw() += '\0';  // BINGET of the root dict: a non-tensor value, ignored
  p.op('u');
  p.op('}').op('b');  // BUILD with state (torch stores _metadata this way)
  p.str("epoch").integer(3);
  p.op('u');
  return iotest::zip_bytes({{"archive/data.pkl", p.finish()},
                            {"archive/data/0", floats({1, 2, 3, 4, 5, 6})},
                            {"archive/data/1", halves({9, 1.5f, -2, 0.25f, 8})},
                            {"archive/data/2", floats({0, 1, 2, 3, 4, 5})},
                            {"archive/version", "3\n"}},
                           zip64);
}

static std::vector<float> values(const Tensor& t) {
  Tensor f = t.to_f32();
  return std::vector<float>(f.data_as<float>(), f.data_as<float>() + f.numel());
}

TEST(crc32_known_vector) { CHECK(crc32(reinterpret_cast<const uint8_t*>("123456789"), 9) == 0xCBF43926u); }

TEST(small_checkpoint_round_trips) {
  for (bool zip64 : {false, true}) {
    iotest::TempDir dir("ckpt");
    iotest::write_file(dir.file("m.ckpt"), small_checkpoint(zip64));
    TensorFile f = read_ckpt(dir.file("m.ckpt"));
    CHECK(f.format == "ckpt");
    CHECK(f.tensors.size() == 3);
    if (f.tensors.size() != 3) continue;
    CHECK(f.tensors[0].first == "model.a");
    CHECK(f.tensors[0].second.shape() == Shape({2, 3}));
    CHECK(values(f.tensors[0].second) == std::vector<float>({1, 2, 3, 4, 5, 6}));
    CHECK(f.tensors[1].first == "model.b");
    CHECK(f.tensors[1].second.dtype() == DType::F16);
    CHECK(values(f.tensors[1].second) == std::vector<float>({1.5f, -2, 0.25f, 8}));
    // Transposed storage (strides [1, 3]) is gathered into row-major order.
    CHECK(f.tensors[2].second.shape() == Shape({3, 2}));
    CHECK(values(f.tensors[2].second) == std::vector<float>({0, 3, 1, 4, 2, 5}));
    // Contiguous tensors are views into the mapped file.
    CHECK(f.tensors[0].second.owner() == f.tensors[1].second.owner());
    CHECK(f.tensors[2].second.owner() != f.tensors[0].second.owner());
  }
}

// A state dict as torch.save writes it: one storage per tensor.
// `lightning` wraps it as PyTorch Lightning does: {"state_dict": {...},
// "global_step": numpy.int64 scalar, "callbacks": {ModelCheckpoint class:
// {..., "best_k_models": set}}, "hparams": ModelCheckpoint instance}.
static std::string state_dict_zip(const TensorFile& src, const std::string& archive, bool lightning = false) {
  PickleWriter p;
  p.op('}').mark();
  if (lightning) p.str("state_dict").op('}').mark();
  std::vector<std::pair<std::string, std::string>> entries;
  for (size_t i = 0; i < src.tensors.size(); ++i) {
    const auto& [name, t] = src.tensors[i];
    std::vector<int64_t> stride(t.strides().begin(), t.strides().end());
    p.str(name).tensor("HalfStorage", std::to_string(i), t.numel(), 0, t.shape(), stride);
    entries.emplace_back(archive + "/data/" + std::to_string(i), iotest::tensor_bytes(t));
  }
  p.op('u');
  if (lightning) {
    // numpy.core.multiarray.scalar(numpy.dtype("i8", False, True) + BUILD state, _codecs.encode(bytes, "latin1"))
    p.str("global_step").global("numpy.core.multiarray", "scalar").mark();
    p.global("numpy", "dtype").mark().str("i8").op('\x89').op('\x88').op('t').op('R');
    p.mark().integer(3).str("<").op('N').op('N').op('N').integer(-1).integer(-1).integer(0).op('t').op('b');
    p.global("_codecs", "encode").mark().str("\xa0\x86\x01").str("latin1").op('t').op('R').op('t').op('R');
    p.str("callbacks").op('}').global("pytorch_lightning.callbacks.model_checkpoint", "ModelCheckpoint").op('}');
    p.str("best_k_models").global("__builtin__", "set").mark().op(']').op('t').op('R').op('s').op('s');
    p.str("hparams").global("pytorch_lightning.callbacks.model_checkpoint", "ModelCheckpoint").op(')').op('\x81');
    p.op('}').op('b').op('u');
  }
  entries.insert(entries.begin(), {archive + "/data.pkl", p.finish()});
  return iotest::zip_bytes(entries);
}

// The whole tiny-sd1 checkpoint as a .ckpt (one storage per tensor, as
// torch.save writes a state dict) loads to the same canonical weights.
TEST(tiny_sd1_ckpt_equals_safetensors) {
  const std::string st = sdtest::fixture("tiny-sd1/tiny-sd1.safetensors");
  iotest::TempDir dir("ckpt-sd1");
  iotest::write_file(dir.file("tiny-sd1.ckpt"), state_dict_zip(read_safetensors(st), "tiny", /*lightning=*/true));

  auto a = load_model(dir.file("tiny-sd1.ckpt"), {});
  auto b = load_model(st, {});
  CHECK(a->info.format == "ckpt");
  CHECK(a->info.family == "sd1");
  CHECK(a->weights.all().size() == b->weights.all().size());
  for (const auto& [name, t] : b->weights.all()) {
    const Tensor* u = a->weights.find(name);
    CHECK_MSG(u && u->shape() == t.shape() && std::memcmp(u->data(), t.data(), static_cast<size_t>(t.nbytes())) == 0, "%s", name.c_str());
  }
}

// diffusers folders with PyTorch .bin weights go through the same reader.
TEST(diffusers_folder_with_bin_weights) {
  iotest::TempDir dir("bin");
  const std::string folder = dir.file("sd1");
  iotest::copy_tree(sdtest::fixture("tiny-sd1/diffusers"), folder);
  const std::string unet = folder + "/unet/diffusion_pytorch_model";
  iotest::write_file(unet + ".bin", state_dict_zip(read_safetensors(unet + ".safetensors"), "diffusion_pytorch_model"));
  std::filesystem::remove(unet + ".safetensors");
  auto a = load_model(folder, {});
  auto b = load_model(sdtest::fixture("tiny-sd1/diffusers"), {});
  CHECK(a->info.family == "sd1");
  CHECK(a->weights.all().size() == b->weights.all().size());
  for (const auto& [name, t] : b->weights.all()) {
    const Tensor* u = a->weights.find(name);
    CHECK_MSG(u && u->shape() == t.shape() && std::memcmp(u->data(), t.data(), static_cast<size_t>(t.nbytes())) == 0, "%s", name.c_str());
  }
}

static void check_same_weights(const LoadedModel& a, const LoadedModel& b, const char* what) {
  bool same = a.weights.all().size() == b.weights.all().size();
  for (const auto& [name, t] : b.weights.all()) {
    const Tensor* u = a.weights.find(name);
    same &= u && u->shape() == t.shape() && std::memcmp(u->data(), t.data(), static_cast<size_t>(t.nbytes())) == 0;
  }
  CHECK_MSG(same, "%s", what);
}

// The file names diffusers and transformers save components under: a text
// encoder as pytorch_model.bin, fp16 shards behind
// diffusion_pytorch_model.safetensors.index.fp16.json, a leftover index whose
// shards are gone beside a single fp16 file; an index whose shard is missing
// and nothing else: ERR_MODEL_NOT_FOUND naming the shard.
TEST(diffusers_component_files_under_every_saved_name) {
  iotest::TempDir dir("names");
  const std::string folder = dir.file("sd1");
  iotest::copy_tree(sdtest::fixture("tiny-sd1/diffusers"), folder);
  auto ref = load_model(sdtest::fixture("tiny-sd1/diffusers"), {});
  const std::string te = folder + "/text_encoder/";
  iotest::write_file(te + "pytorch_model.bin", state_dict_zip(read_safetensors(te + "model.safetensors"), "pytorch_model"));
  std::filesystem::remove(te + "model.safetensors");

  const std::string unet = folder + "/unet/";
  TensorFile u = read_safetensors(unet + "diffusion_pytorch_model.safetensors");
  std::vector<iotest::OutTensor> shard[2];
  std::string map;
  for (size_t i = 0; i < u.tensors.size(); ++i) {
    const std::string file = "diffusion_pytorch_model.fp16-0000" + std::to_string(i % 2 + 1) + "-of-00002.safetensors";
    shard[i % 2].push_back(iotest::out_tensor(u.tensors[i].first, u.tensors[i].second));
    map += std::string(map.empty() ? "" : ", ") + "\"" + u.tensors[i].first + "\": \"" + file + "\"";
  }
  for (int k = 0; k < 2; ++k)
    iotest::write_file(unet + "diffusion_pytorch_model.fp16-0000" + std::to_string(k + 1) + "-of-00002.safetensors",
                       iotest::safetensors_bytes(shard[k]));
  iotest::write_file(unet + "diffusion_pytorch_model.safetensors.index.fp16.json", "{\"weight_map\": {" + map + "}}");
  std::filesystem::rename(unet + "diffusion_pytorch_model.safetensors", dir.file("unet.safetensors"));
  check_same_weights(*load_model(folder, {}), *ref, "pytorch_model.bin text encoder, fp16 shards");

  for (int k = 1; k <= 2; ++k)
    std::filesystem::remove(unet + "diffusion_pytorch_model.fp16-0000" + std::to_string(k) + "-of-00002.safetensors");
  bool not_found = false;
  try {
    load_model(folder, {});
  } catch (const Error& e) {
    not_found = e.code() == ErrorCode::ModelNotFound && std::string(e.what()).find("fp16-00001-of-00002") != std::string::npos;
  }
  CHECK(not_found);

  std::filesystem::rename(dir.file("unet.safetensors"), unet + "diffusion_pytorch_model.fp16.safetensors");
  check_same_weights(*load_model(folder, {}), *ref, "leftover index beside a single fp16 file");
}

static std::string ckpt_with_pickle(const std::string& pkl) {
  return iotest::zip_bytes({{"archive/data.pkl", pkl}, {"archive/data/0", floats({1, 2})}});
}

// Protocol-4 sets (EMPTY_SET, ADDITEMS, FROZENSET) and NEWOBJ_EX of an inert class.
TEST(protocol4_sets_and_inert_objects_beside_a_state_dict) {
  PickleWriter p;
  p.raw()[1] = '\x04';
  p.op('}').mark().str("model.a").tensor("FloatStorage", "0", 2, 0, {2}, {1});
  p.str("seen").op('\x8f').mark().integer(1).integer(2).op('\x90');
  p.str("frozen").mark().integer(3).op('\x91');
  p.str("ckpt").global("lightning.pytorch.callbacks.model_checkpoint", "ModelCheckpoint").op(')').op('}').op('\x92');
  p.op('u');
  iotest::TempDir dir("p4");
  iotest::write_file(dir.file("m.ckpt"), iotest::zip_bytes({{"archive/data.pkl", p.finish()}, {"archive/data/0", floats({7, 8})}}));
  TensorFile f = read_ckpt(dir.file("m.ckpt"));
  CHECK(f.tensors.size() == 1 && f.tensors[0].first == "model.a");
  CHECK(values(f.tensors[0].second) == std::vector<float>({7, 8}));
}

// The content decides the format: a safetensors file named .ckpt loads.
TEST(safetensors_named_ckpt_loads_as_safetensors) {
  iotest::TempDir dir("renamed");
  std::filesystem::copy_file(sdtest::fixture("tiny-sd1/tiny-sd1.safetensors"), dir.file("tiny.ckpt"));
  auto m = load_model(dir.file("tiny.ckpt"), {});
  CHECK(m->info.format == "safetensors" && m->info.family == "sd1");
}

TEST(hostile_globals_are_refused_not_run) {
  const std::string marker = (std::filesystem::temp_directory_path() / "sd-native-pwned-marker").string();
  std::filesystem::remove(marker);
  std::vector<std::pair<std::string, std::string>> cases;
  {
    PickleWriter p;
    p.global("os", "system").str("touch " + marker).op('\x85').op('R');
    cases.emplace_back("os.system", p.finish());
  }
  {
    PickleWriter p;  // protocol 4 STACK_GLOBAL spelling
    p.raw()[1] = '\x04';
    p.raw() +=
        "\x8c\x08"
        "builtins"
        "\x8c\x04"
        "eval";
    p.op('\x93').str("__import__('os').system('touch " + marker + "')").op('\x85').op('R');
    cases.emplace_back("builtins.eval", p.finish());
  }
  {
    PickleWriter p;  // hidden inside an otherwise valid state dict
    p.op('}').mark().str("model.a").tensor("FloatStorage", "0", 2, 0, {2}, {1});
    p.str("callback").global("subprocess", "Popen").str("id").op('\x85').op('R').op('u');
    cases.emplace_back("subprocess.Popen", p.finish());
  }
  {
    PickleWriter p;  // a storage "type" that is really a function
    p.op('}').mark().str("model.a").tensor("FloatStorage", "0", 2, 0, {2}, {1}).op('u');
    std::string s = p.finish();
    s.replace(s.find("torch\nFloatStorage\n"), 19, "posix\nsystem\n");
    cases.emplace_back("posix.system", s);
  }
  iotest::TempDir dir("hostile");
  for (const auto& [global, pkl] : cases) {
    iotest::write_file(dir.file("h.ckpt"), ckpt_with_pickle(pkl));
    bool refused = false;
    try {
      read_ckpt(dir.file("h.ckpt"));
    } catch (const Error& e) {
      refused = e.code() == ErrorCode::ModelUnsupported && std::string(e.what()).find("\"" + global + "\"") != std::string::npos;
      CHECK_MSG(refused, "%s: %s", global.c_str(), e.what());
    }
    CHECK_MSG(refused, "%s was not refused", global.c_str());
    CHECK(!std::filesystem::exists(marker));
  }
}

TEST(malformed_checkpoints_are_refused) {
  iotest::TempDir dir("badckpt");
  auto expect = [&](const std::string& bytes, ErrorCode code, const char* what) {
    iotest::write_file(dir.file("b.ckpt"), bytes);
    bool threw = false;
    try {
      read_ckpt(dir.file("b.ckpt"));
    } catch (const Error& e) {
      threw = true;
      CHECK_MSG(e.code() == code, "%s: wrong code %s: %s", what, error_code_name(e.code()), e.what());
    }
    CHECK_MSG(threw, "%s was accepted", what);
  };
  const std::string good = small_checkpoint(false);
  expect(good.substr(0, good.size() / 2), ErrorCode::ModelFormat, "truncated zip");
  expect(good.substr(0, good.size() - 1), ErrorCode::ModelFormat, "zip missing its last byte");
  expect("", ErrorCode::ModelFormat, "empty file");
  expect("PK\x03\x04 not really a zip", ErrorCode::ModelFormat, "zip header only");
  expect(iotest::zip_bytes({{"archive/other", "x"}}), ErrorCode::ModelFormat, "no data.pkl");
  {
    std::string bad = good;  // flip a byte of data.pkl: the CRC no longer matches
    bad[bad.find("state_dict")] ^= 1;
    expect(bad, ErrorCode::ModelFormat, "corrupted data.pkl");
  }
  auto with_pkl = [&](const std::string& pkl, const char* what) { expect(ckpt_with_pickle(pkl), ErrorCode::ModelFormat, what); };
  {
    PickleWriter p;
    p.op('}').op('h').raw() += '\x07';
    with_pkl(p.finish(), "memo get of an unset index");
  }
  {
    PickleWriter p;
    p.op('}');
    with_pkl(p.raw(), "no STOP");
  }
  {
    PickleWriter p;
    p.op('}').op('i');
    with_pkl(p.finish(), "unsupported opcode INST");
  }
  {
    PickleWriter p;
    p.raw() += "X\xff\xff\xff\x7f";
    with_pkl(p.finish(), "string length beyond the data");
  }
  {
    PickleWriter p;  // tensor reaching past its storage (2 elements)
    p.op('}').mark().str("a").tensor("FloatStorage", "0", 2, 1, {2}, {1}).op('u');
    with_pkl(p.finish(), "tensor beyond its storage");
  }
  {
    PickleWriter p;  // storage numel disagrees with the entry's size
    p.op('}').mark().str("a").tensor("FloatStorage", "0", 3, 0, {3}, {1}).op('u');
    with_pkl(p.finish(), "storage size mismatch");
  }
  {
    PickleWriter p;  // storage key without an entry
    p.op('}').mark().str("a").tensor("FloatStorage", "9", 2, 0, {2}, {1}).op('u');
    with_pkl(p.finish(), "missing storage entry");
  }
  {
    // A million nested lists: must be refused (root is not a dict) without
    // recursing through the chain on the way out.
    PickleWriter p;
    const size_t n = 1000000;
    p.raw() += std::string(n, ']');
    p.raw() += std::string(n - 1, 'a');
    with_pkl(p.finish(), "deeply nested lists");
  }
  {
    PickleWriter p;  // memo index far beyond anything built: refused, not allocated
    p.op('}').op('r').raw() += std::string("\xff\xff\xff\x0f", 4);
    with_pkl(p.finish(), "huge memo index");
  }
  {
    PickleWriter p;  // more values than the bound
    p.raw() += std::string(3000000, 'N');
    with_pkl(p.finish(), "three million values");
  }
  {
    PickleWriter p;  // a 2-element storage broadcast to 2^40 elements by zero strides
    p.op('}').mark().str("a").tensor("FloatStorage", "0", 2, 0, {1 << 20, 1 << 20}, {0, 0}).op('u');
    with_pkl(p.finish(), "broadcast strides");
  }
  {
    // A list appended to itself through the memo (a cycle).
    PickleWriter p;
    p.op(']').op('q').raw() += '\0';
    p.op('h').raw() += '\0';
    p.op('a');
    with_pkl(p.finish(), "self-referencing list");
  }
}
