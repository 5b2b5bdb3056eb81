#include "lora/lora_file.h"

#include <cmath>
#include <filesystem>
#include <map>

#include "core/error.h"
#include "io/file_path.h"
#include "io/json.h"
#include "io/tensor_file.h"
#include "util/strings.h"

namespace sd {

namespace {

enum class Role { Down, Up, Alpha };

struct Parts {
  Tensor down, up, alpha;
};

// The role a tensor name plays, and its module name (the name minus the suffix).
bool classify(const std::string& name, Role* role, std::string* module) {
  static const std::pair<const char*, Role> kSuffixes[] = {
      {".lora_down.weight", Role::Down}, {".lora_up.weight", Role::Up}, {".alpha", Role::Alpha},
      {".lora_A.weight", Role::Down},    {".lora_B.weight", Role::Up},
  };
  for (const auto& [suffix, r] : kSuffixes) {
    if (ends_with(name, suffix)) {
      *role = r;
      *module = name.substr(0, name.size() - std::string(suffix).size());
      return !module->empty();
    }
  }
  return false;
}

[[noreturn]] void bad(const std::string& path, const std::string& what) { fail(ErrorCode::LoraFormat, "LoRA " + path + ": " + what); }

// peft alpha per component, from the adapter metadata diffusers writes.
struct PeftAlphas {
  std::map<std::string, double> component;                        // "unet" -> lora_alpha
  std::map<std::string, std::map<std::string, double>> patterns;  // "unet" -> module suffix -> alpha
};

PeftAlphas peft_alphas(const std::map<std::string, std::string>& metadata, const std::string& path) {
  PeftAlphas out;
  auto it = metadata.find("lora_adapter_metadata");
  if (it == metadata.end()) return out;
  Json root;
  try {
    root = Json::parse(it->second, 16);
  } catch (const Error&) {
    bad(path, "lora_adapter_metadata is not valid JSON");
  }
  if (!root.is_object()) bad(path, "lora_adapter_metadata is not a JSON object");
  for (const auto& [key, v] : root.members()) {
    const size_t dot = key.rfind('.');
    if (dot == std::string::npos) continue;
    const std::string comp = key.substr(0, dot), field = key.substr(dot + 1);
    if (field == "lora_alpha" && v.is_number()) out.component[comp] = v.as_number();
    if (field == "alpha_pattern" && v.is_object())
      for (const auto& [mod, a] : v.members())
        if (a.is_number()) out.patterns[comp][mod] = a.as_number();
  }
  return out;
}

float scalar_of(const Tensor& t, const std::string& path, const std::string& name) {
  if (t.numel() != 1) bad(path, name + ".alpha must be a scalar");
  const float a = t.to_f32().data_as<float>()[0];
  if (!std::isfinite(a)) bad(path, name + ".alpha is not finite");
  return a;
}

// Alpha of a peft module: the longest alpha_pattern key that ends the module
// path, else the component's lora_alpha, else rank (peft's default).
float peft_alpha(const PeftAlphas& a, const std::string& module, int64_t rank) {
  const size_t dot = module.find('.');
  const std::string comp = module.substr(0, dot), rest = dot == std::string::npos ? "" : module.substr(dot + 1);
  auto pit = a.patterns.find(comp);
  if (pit != a.patterns.end()) {
    const std::string* best = nullptr;
    double value = 0;
    for (const auto& [key, v] : pit->second)
      if ((rest == key || ends_with(rest, "." + key)) && (!best || key.size() > best->size())) {
        best = &key;
        value = v;
      }
    if (best) return float(value);
  }
  auto cit = a.component.find(comp);
  return cit != a.component.end() ? float(cit->second) : float(rank);
}

}  // namespace

LoraFile read_lora_file(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(fs_path(path), ec)) fail(ErrorCode::ModelNotFound, "LoRA file not found: " + path);
  TensorFile file = read_tensor_file(path);
  LoraFile out;
  out.path = path;
  std::map<std::string, Parts> parts;  // ordered: deterministic module order
  for (auto& [name, t] : file.tensors) {
    Role role;
    std::string module;
    if (!classify(name, &role, &module)) {
      out.unknown_keys.push_back(name);
      continue;
    }
    Tensor& slot = role == Role::Down ? parts[module].down : role == Role::Up ? parts[module].up : parts[module].alpha;
    if (slot.data()) bad(path, "two tensors for " + name);
    slot = t;
  }
  const PeftAlphas peft = peft_alphas(file.metadata, path);
  for (auto& [module, p] : parts) {
    if (!p.down.data() || !p.up.data()) bad(path, module + " lacks its " + std::string(p.down.data() ? "up" : "down") + " weight");
    if (p.down.dim() != 2 && p.down.dim() != 4) bad(path, module + ": down weight must be 2-D or 4-D");
    if (p.up.dim() != p.down.dim()) bad(path, module + ": up and down weights differ in rank of shape");
    if (p.up.size(1) != p.down.size(0) || p.down.size(0) < 1)
      bad(path, module + ": up [" + std::to_string(p.up.size(0)) + ", " + std::to_string(p.up.size(1)) + "] does not match down rank " +
                    std::to_string(p.down.size(0)));
    if (p.up.dim() == 4 && (p.up.size(2) != 1 || p.up.size(3) != 1)) bad(path, module + ": conv up weight must be 1x1");
    LoraModule m;
    m.name = module;
    m.down = p.down;
    m.up = p.up;
    // Without an alpha tensor: the peft metadata's alpha, else alpha = rank.
    m.alpha = p.alpha.data() ? scalar_of(p.alpha, path, module) : peft_alpha(peft, module, m.rank());
    out.modules.push_back(std::move(m));
  }
  if (out.modules.empty()) bad(path, "no LoRA tensors (expected *.lora_down/lora_up.weight or *.lora_A/lora_B.weight)");
  return out;
}

}  // namespace sd
