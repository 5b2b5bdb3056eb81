#include "models/hparams.h"

#include <stdexcept>

#include "core/error.h"

namespace sd {

ComponentConfig ComponentConfig::of(const LoadedModel& model, const std::string& component) {
  ComponentConfig cfg;
  cfg.component_ = component;
  auto it = model.configs.find(component);
  if (it == model.configs.end()) return cfg;
  try {
    cfg.root_ = Json::parse(it->second);
  } catch (const std::invalid_argument& e) {
    fail(ErrorCode::ModelFormat, component + " config.json is not valid JSON: " + e.what());
  }
  if (!cfg.root_.is_object()) fail(ErrorCode::ModelFormat, component + " config.json is not a JSON object");
  cfg.present_ = true;
  return cfg;
}

const Json* ComponentConfig::find(const char* key) const {
  if (!present_) return nullptr;
  const Json* v = root_.find(key);
  return v && !v->is_null() ? v : nullptr;
}

static int64_t to_int(const Json& v, const std::string& where) {
  int64_t out = 0;
  if (!v.as_int64(&out)) fail(ErrorCode::ModelFormat, where + " must be an integer");
  return out;
}

int64_t ComponentConfig::get_int(const char* key, int64_t fallback) const {
  const Json* v = find(key);
  return v ? to_int(*v, component_ + " config \"" + key + "\"") : fallback;
}

double ComponentConfig::get_number(const char* key, double fallback) const {
  const Json* v = find(key);
  if (!v) return fallback;
  if (!v->is_number()) fail(ErrorCode::ModelFormat, component_ + " config \"" + key + "\" must be a number");
  return v->as_number();
}

bool ComponentConfig::get_bool(const char* key, bool fallback) const {
  const Json* v = find(key);
  if (!v) return fallback;
  if (!v->is_bool()) fail(ErrorCode::ModelFormat, component_ + " config \"" + key + "\" must be true or false");
  return v->as_bool();
}

std::string ComponentConfig::get_string(const char* key, const std::string& fallback) const {
  const Json* v = find(key);
  if (!v) return fallback;
  if (!v->is_string()) fail(ErrorCode::ModelFormat, component_ + " config \"" + key + "\" must be a string");
  return v->as_string();
}

int64_t ComponentConfig::get_int_at(const char* key, size_t index, int64_t fallback) const {
  const Json* v = find(key);
  if (!v) return fallback;
  std::string where = component_ + " config \"" + key + "\"";
  if (!v->is_array()) return to_int(*v, where);
  if (index >= v->items().size())
    fail(ErrorCode::ModelFormat, where + " has " + std::to_string(v->items().size()) + " entries, need entry " + std::to_string(index));
  return to_int(v->items()[index], where);
}

}  // namespace sd
