// A reference file of ../shared/fixtures (safetensors written by the reference
// Python implementation): its tensors by name and its JSON metadata.
#pragma once
#include <map>
#include <stdexcept>
#include <string>

#include "harness.h"
#include "io/json.h"
#include "io/safetensors.h"

namespace sdtest {

class ReferenceFile {
 public:
  // `rel`: a path under the fixtures folder, e.g. "tiny-sd1/ref/sample_euler.safetensors".
  explicit ReferenceFile(const std::string& rel) : file_(sd::read_safetensors(fixture(rel))) {
    for (auto& [name, t] : file_.tensors) by_name_[name] = t;
  }
  bool has(const std::string& name) const { return by_name_.count(name) != 0; }
  // Throws naming the tensor if the reference has none of that name.
  const sd::Tensor& operator[](const std::string& name) const {
    auto it = by_name_.find(name);
    if (it == by_name_.end()) throw std::runtime_error("reference tensor missing: " + name);
    return it->second;
  }
  sd::Tensor f32(const std::string& name) const { return (*this)[name].to_f32(); }
  sd::Json meta(const std::string& key) const { return sd::Json::parse(file_.metadata.at(key)); }

 private:
  sd::TensorFile file_;
  std::map<std::string, sd::Tensor> by_name_;
};

}  // namespace sdtest
