// Writes the seed corpora under fuzz/corpus/<target>/: small, hand-built,
// valid (or typed-rejected) inputs that show the fuzzer each format's
// structure. Run by `node scripts/fuzz.mjs --make-seeds`; the output is
// committed so CI starts from the same seeds.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "test_io_ckpt_writer.h"

namespace fs = std::filesystem;

namespace {

fs::path g_root;

void put(const std::string& target, const std::string& name, const std::string& bytes) {
  fs::create_directories(g_root / target);
  std::ofstream(g_root / target / name, std::ios::binary) << bytes;
}

struct StEntry {
  std::string name, dtype;
  std::vector<int64_t> shape;
  int64_t esize;
};

// safetensors: u64 header length, JSON header, data (bytes i % 251).
std::string safetensors(const std::vector<StEntry>& entries, const std::string& metadata) {
  std::string header = "{", data;
  if (!metadata.empty()) header += "\"__metadata__\":" + metadata;
  for (const auto& e : entries) {
    int64_t n = e.esize;
    std::string shape;
    for (int64_t d : e.shape) {
      n *= d;
      shape += (shape.empty() ? "" : ",") + std::to_string(d);
    }
    if (header.size() > 1) header += ",";
    header += "\"" + e.name + "\":{\"dtype\":\"" + e.dtype + "\",\"shape\":[" + shape + "],\"data_offsets\":[" +
              std::to_string(data.size()) + "," + std::to_string(data.size() + n) + "]}";
    for (int64_t i = 0; i < n; ++i) data += char(i % 251);
  }
  header += "}";
  while (header.size() % 8) header += ' ';
  std::string out;
  iotest::put_le(&out, header.size(), 8);
  return out + header + data;
}

// A miniature single-file SD1 checkpoint: the prefixes and key weights that
// name mapping and detection look at, at toy widths.
const std::vector<StEntry> kSdLike = {
    {"model.diffusion_model.input_blocks.0.0.weight", "F16", {8, 4, 3, 3}, 2},
    {"model.diffusion_model.input_blocks.0.0.bias", "F16", {8}, 2},
    {"model.diffusion_model.input_blocks.1.1.proj_in.weight", "F16", {8, 8, 1, 1}, 2},
    {"model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight", "F16", {8, 16}, 2},
    {"model.diffusion_model.time_embed.0.weight", "F16", {32, 8}, 2},
    {"model.diffusion_model.out.2.weight", "F16", {4, 8, 3, 3}, 2},
    {"first_stage_model.encoder.conv_in.weight", "F16", {8, 3, 3, 3}, 2},
    {"first_stage_model.decoder.conv_in.weight", "F16", {8, 4, 3, 3}, 2},
    {"first_stage_model.decoder.mid.attn_1.q.weight", "F16", {8, 8, 1, 1}, 2},
    {"cond_stage_model.transformer.text_model.embeddings.token_embedding.weight", "F16", {16, 16}, 2},
    {"cond_stage_model.transformer.text_model.encoder.layers.0.mlp.fc1.weight", "F16", {8, 16}, 2},
    {"cond_stage_model.transformer.text_model.final_layer_norm.weight", "F32", {16}, 4},
};

void safetensors_seeds() {
  put("safetensors", "two_tensors", safetensors({{"a", "F32", {2, 3}, 4}, {"b", "F16", {4}, 2}}, ""));
  put("safetensors", "metadata", safetensors({{"w", "BF16", {1, 2, 2}, 2}}, "{\"format\":\"pt\",\"note\":\"\\u00e9\"}"));
  put("safetensors", "dtypes",
      safetensors({{"f64", "F64", {2}, 8},
                   {"i64", "I64", {2}, 8},
                   {"i32", "I32", {1}, 4},
                   {"u8", "U8", {3}, 1},
                   {"bool", "BOOL", {1}, 1},
                   {"empty", "F32", {0, 5}, 4},
                   {"scalar", "F32", {}, 4}},
                  ""));
  put("safetensors", "sd1_like", safetensors(kSdLike, "{\"modelspec.architecture\":\"stable-diffusion-v1\"}"));
  put("safetensors", "empty_header", safetensors({}, ""));
}

// A torch.save-style checkpoint: data.pkl plus one entry per storage.
std::string ckpt(const std::string& pkl, const std::vector<std::pair<std::string, std::string>>& storages, bool zip64) {
  std::vector<std::pair<std::string, std::string>> entries = {{"archive/data.pkl", pkl}};
  for (const auto& [key, bytes] : storages) entries.emplace_back("archive/data/" + key, bytes);
  entries.emplace_back("archive/version", "3\n");
  return iotest::zip_bytes(entries, zip64);
}

std::string two_tensor_pickle(bool wrap_state_dict, bool parameter) {
  iotest::PickleWriter w;
  if (wrap_state_dict) w.op('}').str("state_dict");
  w.op('}').op('q').raw() += '\0';  // BINPUT 0: memo use as torch emits it
  w.mark();
  w.str("model.diffusion_model.out.2.bias");
  if (parameter) w.global("torch._utils", "_rebuild_parameter").mark();
  w.tensor("FloatStorage", "0", 4, 0, {4}, {1});
  if (parameter) w.op('\x88').global("collections", "OrderedDict").op(')').op('R').op('t').op('R');
  w.str("first_stage_model.decoder.conv_in.weight").tensor("HalfStorage", "1", 12, 0, {2, 3}, {1, 2});  // transposed view
  w.str("epoch").integer(3);
  w.op('u');
  if (wrap_state_dict) w.op('s').str("global_step").integer(100000).op('s');  // outer["state_dict"], outer["global_step"]
  return w.finish();
}

void ckpt_seeds() {
  const std::vector<std::pair<std::string, std::string>> storages = {{"0", std::string(16, '\x01')}, {"1", std::string(24, '\x3c')}};
  const std::string plain = two_tensor_pickle(false, false);
  put("pickle", "two_tensors", plain);
  put("pickle", "state_dict_parameter", two_tensor_pickle(true, true));
  iotest::PickleWriter hostile;
  hostile.global("os", "system").str("echo pwned").op('\x85').op('R');
  put("pickle", "hostile_os_system", hostile.finish());
  iotest::PickleWriter memo;
  memo.op(']').op('q').raw() += '\x01';
  memo.mark().op('N').op('\x88').op('\x89').integer(-5).integer(70000).op('G').raw() += std::string("\x3f\xf0\0\0\0\0\0\0", 8);
  memo.str("s").op('C').raw() += std::string("\x02hi", 3);
  memo.op('h').raw() += '\x01';
  memo.op('e');
  put("pickle", "containers_memo", memo.finish());

  put("ckpt", "two_tensors", ckpt(plain, storages, false));
  put("ckpt", "two_tensors_zip64", ckpt(plain, storages, true));
  put("ckpt", "lightning_parameter", ckpt(two_tensor_pickle(true, true), storages, false));
  put("ckpt", "hostile_os_system", ckpt(hostile.finish(), {}, false));
  put("zip", "ckpt", ckpt(plain, storages, false));
  put("zip", "ckpt_zip64", ckpt(plain, storages, true));
  put("zip", "one_entry", iotest::zip_bytes({{"a.txt", "hello"}}));
  put("zip", "empty", iotest::zip_bytes({}));
}

// GGUF v3: header, metadata, tensor infos (dims innermost first), data
// aligned to general.alignment.
struct GgufTensor {
  std::string name;
  std::vector<uint64_t> ne;
  uint32_t type;  // ggml type: 0 f32, 1 f16, 2 q4_0, 8 q8_0
  uint64_t bytes;
};

std::string gguf_string(const std::string& s) {
  std::string out;
  iotest::put_le(&out, s.size(), 8);
  return out + s;
}

std::string gguf(const std::vector<GgufTensor>& tensors, uint32_t alignment) {
  std::string out = "GGUF";
  iotest::put_le(&out, 3, 4);
  iotest::put_le(&out, tensors.size(), 8);
  iotest::put_le(&out, 4, 8);  // metadata entries
  out += gguf_string("general.architecture");
  iotest::put_le(&out, 8, 4);  // string
  out += gguf_string("stable-diffusion");
  out += gguf_string("general.alignment");
  iotest::put_le(&out, 4, 4);  // uint32
  iotest::put_le(&out, alignment, 4);
  out += gguf_string("sd.scale");
  iotest::put_le(&out, 6, 4);  // float32 1.0
  iotest::put_le(&out, 0x3f800000u, 4);
  out += gguf_string("sd.list");
  iotest::put_le(&out, 9, 4);  // array of int32
  iotest::put_le(&out, 5, 4);
  iotest::put_le(&out, 3, 8);
  for (uint32_t v : {1u, 2u, 0xffffffffu}) iotest::put_le(&out, v, 4);
  uint64_t offset = 0;
  std::string data;
  for (const auto& t : tensors) {
    out += gguf_string(t.name);
    iotest::put_le(&out, t.ne.size(), 4);
    for (uint64_t d : t.ne) iotest::put_le(&out, d, 8);
    iotest::put_le(&out, t.type, 4);
    iotest::put_le(&out, offset, 8);
    for (uint64_t i = 0; i < t.bytes; ++i) data += char(i % 13 == 0 ? 0x3c : i % 7);  // f16 scales stay finite
    while (data.size() % alignment) data += '\0';
    offset = data.size();
  }
  while (out.size() % alignment) out += '\0';
  return out + data;
}

void gguf_seeds() {
  put("gguf", "f32_f16", gguf({{"a", {3, 2}, 0, 24}, {"b", {4}, 1, 8}}, 32));
  put("gguf", "quant", gguf({{"model.diffusion_model.out.2.bias", {32}, 8, 34}, {"q4", {32, 2}, 2, 36}}, 64));
  put("gguf", "no_tensors", gguf({}, 32));
}

void json_seeds() {
  put("json", "config",
      "{\"_class_name\":\"UNet2DConditionModel\",\"block_out_channels\":[32,64],\"norm_eps\":1e-05,"
      "\"flip_sin_to_cos\":true,\"addition_embed_type\":null}");
  put("json", "numbers", "[0,-0,1.5e308,-1e-320,9223372036854775807,-9223372036854775808,9223372036854775808,12.0,1E2]");
  put("json", "strings", "{\"a\":\"\\u00e9\\ud83d\\ude00\\n\\t\\\"\\\\\\/\",\"\":\"\",\"b\":\"\xc3\xa9\"}");
  put("json", "nested", "[[[[[[{\"k\":[[[[]]]]}]]]]]]");
  put("json", "safetensors_header",
      "{\"__metadata__\":{\"format\":\"pt\"},\"w\":{\"dtype\":\"F16\",\"shape\":[2,2],\"data_offsets\":[0,8]}}");
}

// Config seeds: first byte picks the consumer (0 unet, 1 vae, 2 te1,
// 3 scheduler, 4 model_index; see fuzz_config.cpp).
void config_seeds() {
  put("config", "unet",
      std::string(1, '\0') +
          "{\"attention_head_dim\":8,\"block_out_channels\":[32,32,32,64],\"cross_attention_dim\":32,"
          "\"flip_sin_to_cos\":true,\"freq_shift\":0,\"layers_per_block\":2,\"norm_eps\":1e-05,\"norm_num_groups\":8,"
          "\"num_attention_heads\":null,\"use_linear_projection\":false,\"addition_time_embed_dim\":null}");
  put("config", "unet_heads_list", std::string(1, '\0') + "{\"attention_head_dim\":[2,4,4,8],\"norm_num_groups\":8}");
  put("config", "vae", std::string(1, '\1') + "{\"norm_num_groups\":8,\"scaling_factor\":0.18215,\"layers_per_block\":2}");
  put("config", "te1",
      std::string(1, '\2') +
          "{\"hidden_act\":\"quick_gelu\",\"hidden_size\":32,\"layer_norm_eps\":1e-05,\"num_attention_heads\":4,"
          "\"eos_token_id\":49407,\"num_hidden_layers\":4}");
  put("config", "scheduler",
      std::string(1, '\3') +
          "{\"beta_end\":0.012,\"beta_schedule\":\"scaled_linear\",\"beta_start\":0.00085,\"num_train_timesteps\":1000,"
          "\"prediction_type\":\"epsilon\",\"steps_offset\":1,\"timestep_spacing\":\"leading\",\"trained_betas\":null}");
  put("config", "scheduler_linear_v",
      std::string(1, '\3') + "{\"beta_schedule\":\"linear\",\"prediction_type\":\"v_prediction\",\"num_train_timesteps\":10}");
  put("config", "model_index",
      std::string(1, '\4') +
          "{\"_class_name\":\"StableDiffusionPipeline\",\"unet\":[\"diffusers\",\"UNet2DConditionModel\"],"
          "\"force_zeros_for_empty_prompt\":false}");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_seeds <corpus dir>\n");
    return 2;
  }
  g_root = argv[1];
  safetensors_seeds();
  ckpt_seeds();
  gguf_seeds();
  json_seeds();
  config_seeds();
  return 0;
}
