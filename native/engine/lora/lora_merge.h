// LoRA application. The base model is never written to (its weights are
// read-only mmapped views): the result is an overlay model that shares every
// untouched tensor with the base, so "restoring" after a call is simply
// dropping the overlay. Per modified weight W, with m_k = scale_k * alpha_k / r_k:
//  - f32 / f16 / bf16 W: merged, W' = W + sum_k m_k * (up_k @ down_k), an f32
//    copy (the run then costs nothing extra);
//  - quantized W (q8_0, q4_0, ...): a run-time side path next to the untouched
//    W, y = W x + up(down(x)) with down = [down_1; down_2; ...] and
//    up = [m_1 up_1, m_2 up_2, ...] (models/layers.h LowRankSide), so the
//    weight is neither dequantized nor re-quantized.
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
  std::shared_ptr<const LoadedModel> model;  // base + merged weights / side paths
  std::vector<std::string> warnings;         // unknown keys / unmatched modules, one line per file
  int merged_weights = 0;                    // distinct weights modified by merging
  int side_paths = 0;                        // distinct weights given a run-time side path
};

// Auto: the rule above. Merge: merge every weight, dequantizing quantized ones
// into f32 copies (the reference the side paths are tested against).
enum class LoraApply { Auto, Merge };

// Throws ERR_LORA_FORMAT (no module matches this model, shape mismatch),
// reader errors for unreadable files.
LoraOverlay merge_loras(const LoadedModel& base, const std::vector<LoraRequest>& loras, LoraApply mode = LoraApply::Auto);

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
