#include "lora/embedding_file.h"

#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "io/ckpt.h"
#include "io/file_path.h"
#include "io/tensor_file.h"
#include "util/strings.h"

namespace sd {

namespace {

[[noreturn]] void bad(const std::string& path, const std::string& what) { fail(ErrorCode::ModelFormat, "embedding " + path + ": " + what); }

// [D] -> [1, D]; [n, D] as is; f32 copy.
Tensor as_rows(const Tensor& t, const std::string& path, const std::string& name) {
  if (t.dim() == 1) return t.to_f32().reshape({1, t.size(0)});
  if (t.dim() != 2 || t.size(0) < 1 || t.size(0) > 75)
    bad(path, "\"" + name + "\" has shape " + shape_str(t.shape()) + ", expected [n, D] with 1 <= n <= 75");
  return t.to_f32();
}

// torch.save zip files (.pt / .bin) nest A1111 vectors one dict down.
bool is_zip(const std::string& path) {
  char magic[4] = {};
  std::ifstream f(fs_path(path), std::ios::binary);
  return f.read(magic, 4) && std::memcmp(magic, "PK\x03\x04", 4) == 0;
}

}  // namespace

EmbeddingFile read_embedding_file(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(fs_path(path), ec)) fail(ErrorCode::ModelNotFound, "embedding file not found: " + path);
  TensorFile f = is_zip(path) ? read_ckpt_nested(path) : read_tensor_file(path);
  EmbeddingFile out;
  const std::string a1111_pt = "string_to_param.";
  for (const auto& [name, t] : f.tensors) {
    if (!starts_with(name, a1111_pt)) continue;
    if (out.te1.data()) bad(path, "string_to_param holds more than one embedding");
    out.te1 = as_rows(t, path, name);
  }
  if (out.te1.data()) return out;
  for (const auto& [name, t] : f.tensors) {
    if (name == "emb_params" || name == "clip_l") out.te1 = as_rows(t, path, name);
    if (name == "clip_g") out.te2 = as_rows(t, path, name);
  }
  if (!out.te1.data() && !out.te2.data()) {
    if (f.tensors.size() != 1) bad(path, "not a textual-inversion embedding (expected emb_params, clip_l/clip_g or one token tensor)");
    out.token = f.tensors[0].first;
    out.te1 = as_rows(f.tensors[0].second, path, out.token);
  }
  return out;
}

std::shared_ptr<const LoadedModel> with_extra_tokens(const LoadedModel& base, const Tensor& te1, const Tensor& te2) {
  auto m = overlay_model(base);
  if (te1.data()) m->weights.set("te1.text_model.embeddings.token_embedding.extra", te1);
  if (te2.data()) m->weights.set("te2.text_model.embeddings.token_embedding.extra", te2);
  return m;
}

}  // namespace sd
