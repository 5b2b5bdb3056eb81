// Helpers for the io tests: a minimal safetensors writer (to build modified
// or hostile checkpoints at test time) and a per-test temp folder.
#pragma once
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "io/file_path.h"
#include "io/model_loader.h"
#include "tensor/tensor.h"

namespace iotest {

struct OutTensor {
  std::string name;
  std::string dtype;  // safetensors spelling: "F16", "F32", ...
  sd::Shape shape;
  std::string bytes;
};

inline const char* st_dtype(sd::DType t) {
  switch (t) {
    case sd::DType::F32: return "F32";
    case sd::DType::F16: return "F16";
    case sd::DType::BF16: return "BF16";
    default: return "F64";
  }
}

// Raw bytes of a contiguous tensor.
inline std::string tensor_bytes(const sd::Tensor& t) {
  return std::string(static_cast<const char*>(t.data()), static_cast<size_t>(t.nbytes()));
}

inline OutTensor out_tensor(const std::string& name, const sd::Tensor& t) {
  return {name, st_dtype(t.dtype()), t.shape(), tensor_bytes(t)};
}

// `metadata`: the header's __metadata__ string map (plain keys and values).
inline std::string safetensors_bytes(const std::vector<OutTensor>& ts, const std::map<std::string, std::string>& metadata = {}) {
  std::string header = "{", data;
  if (!metadata.empty()) {
    header += "\"__metadata__\":{";
    for (const auto& [k, v] : metadata) header += (header.back() == '{' ? "\"" : ",\"") + k + "\":\"" + v + "\"";
    header += "}";
  }
  for (const auto& t : ts) {
    if (header.size() > 1) header += ",";
    header += "\"" + t.name + "\":{\"dtype\":\"" + t.dtype + "\",\"shape\":[";
    for (size_t i = 0; i < t.shape.size(); ++i) header += (i ? "," : "") + std::to_string(t.shape[i]);
    header += "],\"data_offsets\":[" + std::to_string(data.size()) + "," + std::to_string(data.size() + t.bytes.size()) + "]}";
    data += t.bytes;
  }
  header += "}";
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = char((uint64_t(header.size()) >> (8 * i)) & 0xff);
  return out + header + data;
}

inline std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

inline void write_file(const std::string& path, const std::string& bytes) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream f(path, std::ios::binary);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// A recursive copy (of a fixture folder) that the test may then modify or
// delete: fixtures can be read-only, and Windows refuses to delete a
// read-only file, so the copies are made owner-writable.
inline void copy_tree(const std::string& from, const std::string& to) {
  namespace fs = std::filesystem;
  const fs::path dst = sd::fs_path(to);  // UTF-8, as the engine's paths
  fs::copy(sd::fs_path(from), dst, fs::copy_options::recursive);
  fs::permissions(dst, fs::perms::owner_write, fs::perm_options::add);
  for (const auto& e : fs::recursive_directory_iterator(dst)) fs::permissions(e.path(), fs::perms::owner_write, fs::perm_options::add);
}

// A fresh folder under the system temp dir, removed when the object dies.
struct TempDir {
  std::string path;
  explicit TempDir(const std::string& tag) {
    path = (std::filesystem::temp_directory_path() /
            ("sd-native-io-" + tag + "-" + std::to_string(std::chrono::steady_clock::now().time_since_epoch().count())))
               .string();
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string file(const std::string& name) const { return path + "/" + name; }
};

// An SD 2.x single file built from a loaded SD 2.x diffusers folder the way
// the original checkpoints store it: OpenCLIP names under
// cond_stage_model.model., fused q/k/v, one layer more than the folder (SD 2.x
// never runs it; here layer 0's f16 values negated, so it equals no other),
// a text_projection and a 0-D logit_scale (both f32, never run either).
inline std::vector<OutTensor> sd2_single_file(const sd::LoadedModel& folder) {
  std::vector<OutTensor> out;
  int layers = 0;
  while (folder.weights.has("te1.text_model.encoder.layers." + std::to_string(layers) + ".self_attn.q_proj.weight")) ++layers;
  for (const auto& [name, t] : folder.weights.all()) {
    if (name.rfind("unet.", 0) == 0) out.push_back(out_tensor("model.diffusion_model." + name.substr(5), t));
    if (name.rfind("vae.", 0) == 0) out.push_back(out_tensor("first_stage_model." + name.substr(4), t));
  }
  const std::string oc = "cond_stage_model.model.", tm = "te1.text_model.";
  const auto& w = folder.weights;
  out.push_back(out_tensor(oc + "token_embedding.weight", w.get(tm + "embeddings.token_embedding.weight")));
  out.push_back(out_tensor(oc + "positional_embedding", w.get(tm + "embeddings.position_embedding.weight")));
  out.push_back(out_tensor(oc + "ln_final.weight", w.get(tm + "final_layer_norm.weight")));
  out.push_back(out_tensor(oc + "ln_final.bias", w.get(tm + "final_layer_norm.bias")));
  for (int i = 0; i <= layers; ++i) {
    const bool extra = i == layers;
    const std::string l = tm + "encoder.layers." + std::to_string(extra ? 0 : i) + ".";
    const std::string r = oc + "transformer.resblocks." + std::to_string(i) + ".";
    auto bytes = [&](const std::string& name) {
      std::string b = tensor_bytes(w.get(name));
      if (extra)
        for (size_t k = 1; k < b.size(); k += 2) b[k] = char(b[k] ^ 0x80);  // f16 sign bits
      return b;
    };
    auto put = [&](const std::string& to, const std::string& from) {
      const sd::Tensor& t = w.get(from);
      out.push_back({to, st_dtype(t.dtype()), t.shape(), bytes(from)});
    };
    for (const char* kind : {"weight", "bias"}) {
      const std::string q = l + "self_attn.q_proj." + kind;
      sd::Shape fused = w.get(q).shape();
      fused[0] *= 3;
      out.push_back({r + "attn.in_proj_" + kind, "F16", fused,
                     bytes(q) + bytes(l + "self_attn.k_proj." + kind) + bytes(l + "self_attn.v_proj." + kind)});
      put(r + "attn.out_proj." + kind, l + "self_attn.out_proj." + kind);
      put(r + "ln_1." + kind, l + "layer_norm1." + kind);
      put(r + "ln_2." + kind, l + "layer_norm2." + kind);
      put(r + "mlp.c_fc." + kind, l + "mlp.fc1." + kind);
      put(r + "mlp.c_proj." + kind, l + "mlp.fc2." + kind);
    }
  }
  const int64_t h = w.get(tm + "final_layer_norm.weight").size(0);
  std::vector<float> proj(static_cast<size_t>(h * h));
  for (size_t k = 0; k < proj.size(); ++k) proj[k] = float(int(k % 7) - 3) * 0.25f;  // f16-exact
  out.push_back({oc + "text_projection", "F32", {h, h}, std::string(reinterpret_cast<const char*>(proj.data()), proj.size() * 4)});
  const float logit_scale = 4.5f;
  out.push_back({oc + "logit_scale", "F32", {}, std::string(reinterpret_cast<const char*>(&logit_scale), 4)});
  return out;
}

}  // namespace iotest
