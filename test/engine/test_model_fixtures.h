// Shared helpers of the model tests (test_model_*.cpp): reference tensors,
// fixture models with their diffusers config.json files, and comparison.
#pragma once
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "harness.h"
#include "io/model_loader.h"
#include "io/safetensors.h"
#include "reference_file.h"

namespace modeltest {

using sd::Tensor;

using sdtest::fixture;

inline std::string read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

using Refs = sdtest::ReferenceFile;

inline Refs load_refs(const std::string& rel) { return Refs(rel); }

// Single-file fixture plus the diffusers config.json of each component
// (norm_num_groups 8 etc. cannot be expressed by the LDM file; they replace
// whatever standard values the loader filled in).
inline std::unique_ptr<sd::LoadedModel> load_fixture_model(const std::string& rel_file, const std::map<std::string, std::string>& configs) {
  auto m = sd::load_model(fixture(rel_file), {});
  for (auto& [component, rel_cfg] : configs) m->configs[component] = read_text(fixture(rel_cfg));
  return m;
}

// tiny-sd1's single file with its diffusers configs, converted on load to
// `weight_type` when given (LoadOptions::weight_type, e.g. "q8_0").
inline std::unique_ptr<sd::LoadedModel> load_tiny_sd1(const std::string& weight_type = "") {
  sd::LoadOptions lo;
  lo.config_path = fixture("tiny-sd1/diffusers");
  lo.weight_type = weight_type;
  return sd::load_model(fixture("tiny-sd1/tiny-sd1.safetensors"), lo);
}

// A diffusers text encoder folder's weights under a canonical prefix (HF CLIP
// names are the canonical te names, so no mapping is needed).
inline std::unique_ptr<sd::LoadedModel> load_text_encoder_folder(const std::string& rel_dir, const std::string& component,
                                                                 const std::string& family) {
  auto m = std::make_unique<sd::LoadedModel>();
  m->info.family = family;
  for (auto& [name, t] : sd::read_safetensors(fixture(rel_dir + "/model.safetensors")).tensors) m->weights.set(component + "." + name, t);
  m->configs[component] = read_text(fixture(rel_dir + "/config.json"));
  return m;
}

inline std::vector<int32_t> ids_of(const Tensor& t) {
  const int32_t* p = t.data_as<int32_t>();
  return std::vector<int32_t>(p, p + t.numel());
}

// Relative L2 error of `got` against `want`; shape mismatch reads as +inf.
inline double rel_err(const Tensor& got, const Tensor& want) {
  if (got.shape() != want.shape()) {
    std::fprintf(stderr, "  shape %s vs reference %s\n", sd::shape_str(got.shape()).c_str(), sd::shape_str(want.shape()).c_str());
    return 1e30;
  }
  Tensor a = got.to_f32(), b = want.to_f32();
  return sdtest::rel_l2(a.data_as<float>(), b.data_as<float>(), size_t(a.numel()));
}

constexpr double kTol = 1e-4;

#define CHECK_CLOSE(got, want, what)                                                                            \
  do {                                                                                                          \
    double e_ = modeltest::rel_err((got), (want));                                                              \
    CHECK_MSG(e_ <= modeltest::kTol, "%s: rel L2 %.3g > %.0e", std::string(what).c_str(), e_, modeltest::kTol); \
  } while (0)

}  // namespace modeltest
