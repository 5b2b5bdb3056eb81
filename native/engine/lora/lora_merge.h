// LoRA application by merging: W' = W + sum_k scale_k * (alpha_k / r_k) *
// (up_k @ down_k) for every weight the requested LoRAs modify. The base model
// is never written to (its weights are read-only mmapped views): the result
// is an overlay model that shares every untouched tensor with the base and
// holds f32 merged copies of the modified ones, so "restoring" after a call is
// simply dropping the overlay. Quantized base weights are dequantized before
// merging (the merged copy is f32).
#pragma once
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "io/model_loader.h"

namespace sd {

struct LoraRequest {
  std::string path;
  float scale = 1.0f;  // may be negative
};

struct LoraOverlay {
  std::shared_ptr<const LoadedModel> model;  // base + merged weights
  std::vector<std::string> warnings;         // unknown keys / unmatched modules, one line per file
  int merged_weights = 0;                    // distinct weights modified
};

// Throws ERR_LORA_FORMAT (no module matches this model, shape mismatch),
// reader errors for unreadable files.
LoraOverlay merge_loras(const LoadedModel& base, const std::vector<LoraRequest>& loras);

// Keeps the overlay of the last LoRA set used with one model, so repeated
// calls with the same set (same files, unchanged on disk, same scales) skip
// the merge. Thread-safe.
class LoraCache {
 public:
  LoraOverlay get(const LoadedModel& base, const std::vector<LoraRequest>& loras);
  void clear();

 private:
  std::mutex mu_;
  std::string key_;
  LoraOverlay overlay_;
};

}  // namespace sd
