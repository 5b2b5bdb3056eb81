#include "lora/lora_merge.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <sstream>

#include "core/error.h"
#include "io/file_path.h"
#include "lora/lora_file.h"
#include "lora/lora_targets.h"
#include "models/layers.h"
#include "quant/blocks.h"
#include "util/strings.h"

namespace sd {

namespace {

// A weight as a new contiguous f32 tensor (dequantizing block formats).
Tensor f32_copy(const Tensor& w) {
  if (!dtype_is_quantized(w.dtype())) return w.to_f32();  // always a new buffer
  Tensor out = Tensor::empty(DType::F32, w.shape());
  const int64_t rows = w.size(0), cols = w.numel() / rows;
  const size_t row_bytes = size_t(w.nbytes() / rows);
  for (int64_t r = 0; r < rows; ++r)
    quant::dequantize_row(w.dtype(), static_cast<const char*>(w.data()) + r * row_bytes, cols, out.data_as<float>() + r * cols);
  return out;
}

// W [out, K] (f32, K = in*kh*kw) += mult * up [out, r] @ down [r, K].
void add_low_rank(Tensor& w, const Tensor& up_any, const Tensor& down_any, float mult) {
  Tensor up = up_any.to_f32(), down = down_any.to_f32();
  const int64_t out = w.size(0), K = w.numel() / out, r = down.size(0);
  const float* U = up.data_as<float>();
  const float* D = down.data_as<float>();
  float* W = w.data_as<float>();
  std::vector<float> row(static_cast<size_t>(K));
  for (int64_t o = 0; o < out; ++o) {
    std::fill(row.begin(), row.end(), 0.0f);
    for (int64_t k = 0; k < r; ++k) {
      const float u = U[o * r + k];
      const float* d = D + k * K;
      for (int64_t j = 0; j < K; ++j) row[size_t(j)] += u * d[j];
    }
    for (int64_t j = 0; j < K; ++j) W[o * K + j] += mult * row[size_t(j)];
  }
}

// The low-rank terms one quantized weight collects across the requested LoRAs.
struct SideTerms {
  std::vector<Tensor> downs, ups;  // down_k [r_k, K] / up_k [out, r_k] (any float dtype)
  std::vector<float> mults;
};

// Concatenates the terms along the rank: down [R, in(, k, k)] like the weight,
// up [out, R] with m_k folded into its block of columns.
void add_side_path(ModelWeights& wts, const std::string& weight_name, const Tensor& w, const SideTerms& t) {
  const int64_t out = w.size(0), K = w.numel() / out;
  int64_t R = 0;
  for (const Tensor& d : t.downs) R += d.size(0);
  Shape down_shape = w.shape();
  down_shape[0] = R;
  Tensor down = Tensor::empty(DType::F32, down_shape);
  Tensor up = Tensor::empty(DType::F32, {out, R});
  float* D = down.data_as<float>();
  float* U = up.data_as<float>();
  int64_t r0 = 0;
  for (size_t k = 0; k < t.downs.size(); ++k) {
    const Tensor dk = t.downs[k].to_f32(), uk = t.ups[k].to_f32();
    const int64_t r = dk.size(0);
    std::copy(dk.data_as<float>(), dk.data_as<float>() + r * K, D + r0 * K);
    for (int64_t o = 0; o < out; ++o)
      for (int64_t j = 0; j < r; ++j) U[o * R + r0 + j] = t.mults[k] * uk.data_as<float>()[o * r + j];
    r0 += r;
  }
  const std::string prefix = weight_name.substr(0, weight_name.size() - std::string(".weight").size());
  wts.set(prefix + kLoraSideDown, std::move(down));
  wts.set(prefix + kLoraSideUp, std::move(up));
}

std::string list(const std::vector<std::string>& names, size_t max) {
  std::string s;
  for (size_t i = 0; i < names.size() && i < max; ++i) s += (i ? ", " : "") + names[i];
  if (names.size() > max) s += ", ... (" + std::to_string(names.size() - max) + " more)";
  return s;
}

}  // namespace

LoraOverlay merge_loras(const LoadedModel& base, const std::vector<LoraRequest>& loras, LoraApply mode) {
  const LoraTargets targets = lora_targets(base);
  LoraOverlay result;
  std::map<std::string, Tensor> merged;    // canonical name -> f32 merged copy
  std::map<std::string, SideTerms> sides;  // canonical name -> side-path terms (quantized weights)
  auto merged_copy = [&](const std::string& name, const Tensor& w) -> Tensor& {
    auto slot = merged.find(name);
    return slot != merged.end() ? slot->second : merged.emplace(name, f32_copy(w)).first->second;
  };
  for (const LoraRequest& req : loras) {
    const LoraFile file = read_lora_file(req.path);
    std::vector<std::string> unmatched;
    int applied = 0;
    for (const LoraModule& m : file.modules) {
      auto it = targets.find(m.name);
      if (it == targets.end()) {
        unmatched.push_back(m.name);
        continue;
      }
      const Tensor& w = base.weights.get(it->second);  // [out, in] or [out, in, kh, kw]
      const float mult = req.scale * m.alpha / float(m.scale_rank);
      if (m.dense.data()) {  // a whole difference: always merged (no side path takes it)
        if (m.dense.size(0) != w.size(0) || m.dense.numel() != w.numel())
          fail(ErrorCode::LoraFormat, "LoRA " + req.path + ": " + m.name + " has a difference of shape " + shape_str(m.dense.shape()) +
                                          " but " + it->second + " has " + shape_str(w.shape()) + " (a LoRA for another model?)");
        float* W = merged_copy(it->second, w).data_as<float>();
        for (int64_t i = 0; i < w.numel(); ++i) W[i] += mult * m.dense.data_as<float>()[i];
        ++applied;
        continue;
      }
      const int64_t K = m.down.numel() / m.rank();
      if (m.up.size(0) != w.size(0) || m.up.size(0) * K != w.numel())
        fail(ErrorCode::LoraFormat, "LoRA " + req.path + ": " + m.name + " has shape up [" + std::to_string(m.up.size(0)) +
                                        ", r] x down [r, " + std::to_string(K) + "] but " + it->second + " has " + shape_str(w.shape()) +
                                        " (a LoRA for another model?)");
      if (mode == LoraApply::Auto && dtype_is_quantized(w.dtype())) {
        SideTerms& t = sides[it->second];
        t.downs.push_back(m.down);
        t.ups.push_back(m.up);
        t.mults.push_back(mult);
      } else {
        add_low_rank(merged_copy(it->second, w), m.up, m.down, mult);
      }
      ++applied;
    }
    if (applied == 0)
      fail(ErrorCode::LoraFormat, "LoRA " + req.path + ": none of its " + std::to_string(file.modules.size()) +
                                      " modules matches a weight of this " + base.info.family + " model (e.g. " + list(unmatched, 3) + ")");
    if (std::any_of(file.unknown_keys.begin(), file.unknown_keys.end(), [](const std::string& k) { return ends_with(k, ".dora_scale"); }))
      result.warnings.push_back("LoRA " + req.path +
                                ": its DoRA magnitudes (dora_scale) are not applied; it runs as a plain LoRA, unlike in DoRA-aware UIs");
    if (!file.unknown_keys.empty())
      result.warnings.push_back("LoRA " + req.path + ": ignored " + std::to_string(file.unknown_keys.size()) +
                                " tensor(s) of unknown role: " + list(file.unknown_keys, 20));
    if (!unmatched.empty())
      result.warnings.push_back("LoRA " + req.path + ": " + std::to_string(unmatched.size()) +
                                " module(s) match no weight of this model: " + list(unmatched, 20));
  }
  // A quantized weight a dense difference merged: its low-rank terms join that copy.
  for (auto it = sides.begin(); it != sides.end();) {
    auto slot = merged.find(it->first);
    if (slot == merged.end()) {
      ++it;
      continue;
    }
    for (size_t k = 0; k < it->second.downs.size(); ++k)
      add_low_rank(slot->second, it->second.ups[k], it->second.downs[k], it->second.mults[k]);
    it = sides.erase(it);
  }
  auto overlay = overlay_model(base);
  for (auto& [name, t] : merged) overlay->weights.set(name, std::move(t));
  for (const auto& [name, t] : sides) add_side_path(overlay->weights, name, base.weights.get(name), t);
  result.merged_weights = int(merged.size());
  result.side_paths = int(sides.size());
  result.model = std::move(overlay);
  return result;
}

LoraOverlay LoraCache::get(const LoadedModel& base, const std::vector<LoraRequest>& loras) {
  // Key: each file's path, size and modification time, and its scale (exact bits).
  std::ostringstream key;
  for (const LoraRequest& r : loras) {
    std::error_code ec;
    const auto size = std::filesystem::file_size(fs_path(r.path), ec);
    const auto mtime = std::filesystem::last_write_time(fs_path(r.path), ec).time_since_epoch().count();
    key << r.path << '\0' << size << '\0' << mtime << '\0' << std::hexfloat << r.scale << '\n';
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (overlay_.model && key_ == key.str()) return overlay_;
  overlay_ = LoraOverlay();  // release the previous set's copies before merging the next
  overlay_ = merge_loras(base, loras);
  key_ = key.str();
  return overlay_;
}

void LoraCache::clear() {
  std::lock_guard<std::mutex> lock(mu_);
  overlay_ = LoraOverlay();
  key_.clear();
}

}  // namespace sd
