#include "io/diffusers.h"

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>

#include "core/error.h"
#include "io/file_path.h"
#include "io/json.h"
#include "io/name_map.h"

namespace fs = std::filesystem;

namespace sd {

namespace {

// Config and index files are small; anything larger is not one.
constexpr std::uintmax_t kMaxTextFile = 64ull << 20;

bool is_dir(const fs::path& p) {
  std::error_code ec;
  return fs::is_directory(p, ec);
}
bool is_file(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}

// The shard files a sharded checkpoint's index lists, or none (and the
// first missing one in *missing) when one of them is absent: a leftover
// index beside other weights.
std::vector<std::string> shard_files(const fs::path& dir, const fs::path& index, std::string* missing) {
  Json j = Json::parse(read_json_object_file(utf8_path(index)));
  const Json* map = j.find("weight_map");
  if (!map || !map->is_object()) fail(ErrorCode::ModelFormat, utf8_path(index) + ": no \"weight_map\" object");
  std::set<std::string> shards;
  for (const auto& [name, file] : map->members()) {
    const std::string& f = file.is_string() ? file.as_string() : std::string();
    // Shard names are plain file names in the same folder (no ':' either: a
    // drive or an alternate data stream on Windows).
    if (f.empty() || f.find_first_of("/\\:") != std::string::npos || f == "." || f == "..")
      fail(ErrorCode::ModelFormat, utf8_path(index) + ": weight \"" + name + "\" has an invalid shard file name");
    shards.insert(f);
  }
  std::vector<std::string> out;
  for (const auto& s : shards) {
    if (!is_file(dir / fs_path(s))) {
      if (missing->empty()) *missing = utf8_path(dir / fs_path(s)) + " (listed in " + utf8_path(index) + ")";
      return {};
    }
    out.push_back(utf8_path(dir / fs_path(s)));
  }
  return out;
}

// The weight files of one component folder, in load order. The names
// diffusers and transformers save under: <base>[.fp16].safetensors or .bin,
// or shards listed in <base>.<ext>.index[.fp16].json; safetensors first, full
// precision first. `bases`: "diffusion_pytorch_model" for diffusers models;
// "model" (safetensors) and "pytorch_model" (.bin) for transformers' encoders.
std::vector<std::string> weight_files(const fs::path& dir, const std::vector<std::string>& bases) {
  std::string missing;
  for (const char* ext : {".safetensors", ".bin"})
    for (const char* variant : {"", ".fp16"})
      for (const std::string& base : bases) {
        fs::path index = dir / (base + ext + ".index" + variant + ".json");
        if (is_file(index)) {
          std::vector<std::string> shards = shard_files(dir, index, &missing);
          if (!shards.empty()) return shards;
        }
        if (is_file(dir / (base + variant + ext))) return {utf8_path(dir / (base + variant + ext))};
      }
  if (!missing.empty()) fail(ErrorCode::ModelNotFound, "weight shard not found: " + missing);
  std::string tried;
  for (const std::string& base : bases) tried += (tried.empty() ? "" : ", ") + base + "[.fp16].safetensors/.bin";
  fail(ErrorCode::ModelFormat, utf8_path(dir) + ": no weights found (looked for " + tried + " and their sharded .index.json)");
}

NamedTensors read_component(const fs::path& dir, const std::vector<std::string>& bases, uint64_t* bytes) {
  NamedTensors all;
  std::set<std::string> seen;
  for (const auto& path : weight_files(dir, bases)) {
    TensorFile f = read_tensor_file(path);
    *bytes += f.file_size;
    for (auto& [name, t] : f.tensors) {
      if (!seen.insert(name).second) fail(ErrorCode::ModelFormat, path + ": tensor \"" + name + "\" appears in two shards");
      all.emplace_back(std::move(name), std::move(t));
    }
  }
  return all;
}

int layers_per_block(const std::string& config_text) {
  if (config_text.empty()) return -1;
  const Json j = Json::parse(config_text);
  const Json* v = j.find("layers_per_block");
  int64_t n;
  if (!v || !v->as_int64(&n)) return -1;  // lists or absent: counted from the weights
  if (n < 1 || n > 64) fail(ErrorCode::ModelFormat, "unet/config.json: layers_per_block " + std::to_string(n) + " is out of range");
  return static_cast<int>(n);
}

}  // namespace

std::string read_small_text_file(const std::string& path) {
  std::error_code ec;
  auto size = fs::file_size(fs_path(path), ec);
  if (ec) fail(ErrorCode::Io, "cannot read " + path + ": " + ec.message());
  if (size > kMaxTextFile)
    fail(ErrorCode::ModelFormat, path + " is " + std::to_string(size) + " bytes, too large for a config or vocabulary file");
  std::ifstream in(fs_path(path), std::ios::binary);
  if (!in) fail(ErrorCode::Io, "cannot open " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string read_json_object_file(const std::string& path) {
  std::string text = read_small_text_file(path);
  try {
    if (!Json::parse(text, 32).is_object()) fail(ErrorCode::ModelFormat, path + " is not a JSON object");
  } catch (const std::invalid_argument& e) {
    fail(ErrorCode::ModelFormat, path + " is not valid JSON (" + e.what() + ")");
  }
  return text;
}

void read_diffusers_configs(const std::string& dir, std::map<std::string, std::string>* configs) {
  static const std::pair<const char*, const char*> kFiles[] = {
      {"unet", "unet/config.json"},
      {"vae", "vae/config.json"},
      {"te1", "text_encoder/config.json"},
      {"te2", "text_encoder_2/config.json"},
      {"scheduler", "scheduler/scheduler_config.json"},
      {"model_index", "model_index.json"},  // pipeline flags, e.g. SDXL's force_zeros_for_empty_prompt
  };
  for (const auto& [key, rel] : kFiles) {
    fs::path p = fs_path(dir) / rel;
    if (is_file(p)) (*configs)[key] = read_json_object_file(utf8_path(p));
  }
}

void read_diffusers_folder(const std::string& dir_str, LoadedModel* out) {
  const fs::path dir = fs_path(dir_str);
  if (!is_file(dir / "model_index.json"))
    fail(ErrorCode::ModelUnsupported, dir_str + " is a folder but not a diffusers model (no model_index.json)");
  read_json_object_file(utf8_path(dir / "model_index.json"));
  if (!is_dir(dir / "unet")) {
    std::string found;
    for (const char* c : {"vae", "text_encoder", "text_encoder_2", "tokenizer", "scheduler"})
      if (is_dir(dir / c)) found += std::string(found.empty() ? "" : ", ") + c + "/";
    fail(ErrorCode::ModelUnsupported,
         dir_str + ": diffusers folder has no unet/ (found: " + (found.empty() ? "nothing" : found) + "); sd-native needs a full pipeline");
  }
  read_diffusers_configs(dir_str, &out->configs);

  uint64_t bytes = 0;
  auto unet_cfg = out->configs.find("unet");
  map_diffusers_unet(read_component(dir / "unet", {"diffusion_pytorch_model"}, &bytes),
                     layers_per_block(unet_cfg == out->configs.end() ? std::string() : unet_cfg->second), &out->weights);
  if (is_dir(dir / "vae")) map_diffusers_vae(read_component(dir / "vae", {"diffusion_pytorch_model"}, &bytes), &out->weights);
  if (is_dir(dir / "text_encoder"))
    map_hf_text_encoder(read_component(dir / "text_encoder", {"model", "pytorch_model"}, &bytes), "te1", &out->weights);
  if (is_dir(dir / "text_encoder_2"))
    map_hf_text_encoder(read_component(dir / "text_encoder_2", {"model", "pytorch_model"}, &bytes), "te2", &out->weights);
  if (is_dir(dir / "tokenizer")) out->tokenizer_dir = utf8_path(dir / "tokenizer");

  // Size on disk: every file of the folder (configs and tokenizer included).
  std::error_code ec;
  uint64_t total = 0;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    std::error_code ec2;
    if (it->is_regular_file(ec2)) total += it->file_size(ec2);
  }
  out->info.file_size = total > bytes ? total : bytes;
}

}  // namespace sd
