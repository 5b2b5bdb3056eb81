// Reads a component's hyper-parameters from its config.json (LoadedModel::
// configs, raw text per component) with explicit fallbacks. Only what the
// weights' shapes cannot tell is read here (group count, eps, head count, ...);
// everything else is derived from shapes where the model is bound.
#pragma once
#include <cstdint>
#include <string>

#include "io/json.h"
#include "io/model_loader.h"

namespace sd {

class ComponentConfig {
 public:
  // `component`: "unet" | "vae" | "te1" | "te2". Absent config: every getter
  // returns its fallback. Malformed JSON: ERR_MODEL_FORMAT.
  static ComponentConfig of(const LoadedModel& model, const std::string& component);

  bool present() const { return present_; }
  int64_t get_int(const char* key, int64_t fallback) const;
  double get_number(const char* key, double fallback) const;
  bool get_bool(const char* key, bool fallback) const;
  std::string get_string(const char* key, const std::string& fallback) const;
  // A per-level value given either as one number or as a list (diffusers
  // writes both forms, e.g. attention_head_dim 8 or [5, 10, 20]).
  int64_t get_int_at(const char* key, size_t index, int64_t fallback) const;

 private:
  const Json* find(const char* key) const;  // nullptr when absent or JSON null
  std::string component_;
  bool present_ = false;
  Json root_;
};

}  // namespace sd
