#include "lora/lora_file.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <iterator>
#include <map>

#include "core/error.h"
#include "io/file_path.h"
#include "io/json.h"
#include "io/tensor_file.h"
#include "util/strings.h"

namespace sd {

namespace {

enum class Role { Down, Up, Alpha, HadaW1A, HadaW1B, HadaW2A, HadaW2B, LokrW1, LokrW1A, LokrW1B, LokrW2, LokrW2A, LokrW2B };

struct Parts {
  Tensor down, up, alpha;
  Tensor hada[4];  // LoHa: w1_a, w1_b, w2_a, w2_b
  Tensor lokr[6];  // LoKr: w1, w1_a, w1_b, w2, w2_a, w2_b
  Tensor& slot(Role r) {
    switch (r) {
      case Role::Down: return down;
      case Role::Up: return up;
      case Role::Alpha: return alpha;
      default: return r < Role::LokrW1 ? hada[int(r) - int(Role::HadaW1A)] : lokr[int(r) - int(Role::LokrW1)];
    }
  }
};

// Older diffusers training scripts name attention LoRAs after the attention
// processor: <attn>.processor.to_q_lora.down.weight is <attn>.to_q's, and
// to_out_lora is <attn>.to_out.0's.
std::string without_processor(const std::string& name) {
  const size_t at = name.find(".processor.to_");
  const size_t lora = at == std::string::npos ? at : name.find("_lora.", at);
  if (lora == std::string::npos) return name;
  std::string proj = name.substr(at + 11, lora - at - 11);  // "to_q", "to_out"
  if (proj == "to_out") proj += ".0";
  return name.substr(0, at) + "." + proj + ".lora" + name.substr(lora + 5);
}

// The role a tensor name plays, and its module name (the name minus the suffix).
bool classify(const std::string& raw, Role* role, std::string* module) {
  static const std::pair<const char*, Role> kSuffixes[] = {
      {".lora_down.weight", Role::Down},
      {".lora_up.weight", Role::Up},
      {".alpha", Role::Alpha},
      {".lora_A.weight", Role::Down},  // peft
      {".lora_B.weight", Role::Up},
      {".lora.down.weight", Role::Down},  // diffusers training scripts
      {".lora.up.weight", Role::Up},
      {".lora_linear_layer.down.weight", Role::Down},
      {".lora_linear_layer.up.weight", Role::Up},
      {".hada_w1_a", Role::HadaW1A},  // LyCORIS LoHa
      {".hada_w1_b", Role::HadaW1B},
      {".hada_w2_a", Role::HadaW2A},
      {".hada_w2_b", Role::HadaW2B},
      {".lokr_w1", Role::LokrW1},  // LyCORIS LoKr
      {".lokr_w1_a", Role::LokrW1A},
      {".lokr_w1_b", Role::LokrW1B},
      {".lokr_w2", Role::LokrW2},
      {".lokr_w2_a", Role::LokrW2A},
      {".lokr_w2_b", Role::LokrW2B},
  };
  const std::string name = without_processor(raw);
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

// LyCORIS kinds whose weight difference is not (a product of) low-rank
// pairs: refused by name rather than half-applied.
void refuse_unsupported_kinds(const std::string& path, const std::string& name) {
  static const std::pair<const char*, const char*> kKinds[] = {
      {".hada_t1", "Tucker LoHa (LyCORIS)"}, {".lokr_t2", "Tucker LoKr (LyCORIS)"}, {".lora_mid.weight", "Tucker LoCon (LyCORIS)"}};
  for (const auto& [marker, kind] : kKinds)
    if (name.find(marker) != std::string::npos)
      bad(path, std::string(kind) + " is not supported (LoRA, LoCon, LoHa and LoKr are); tensor \"" + name + "\"");
}

// LoHa's difference (w1_a w1_b) * (w2_a w2_b), element-wise, as one low-rank
// pair: entry (o, k) is sum_ij w1_a[o,i] w2_a[o,j] w1_b[i,k] w2_b[j,k], so
// up[o, i*r2 + j] = w1_a[o,i] w2_a[o,j] and down[i*r2 + j, k] = w1_b[i,k] w2_b[j,k]
// (rank r1 * r2; the quantized side path takes it like any LoRA).
void loha_as_low_rank(const Tensor (&h)[4], Tensor* up, Tensor* down) {
  const Tensor a1 = h[0].to_f32(), b1 = h[1].to_f32(), a2 = h[2].to_f32(), b2 = h[3].to_f32();
  const int64_t out = a1.size(0), r1 = a1.size(1), r2 = a2.size(1), K = b1.numel() / r1;
  *up = Tensor::empty(DType::F32, {out, r1 * r2});
  *down = Tensor::empty(DType::F32, {r1 * r2, K});
  for (int64_t o = 0; o < out; ++o)
    for (int64_t i = 0; i < r1; ++i)
      for (int64_t j = 0; j < r2; ++j)
        up->data_as<float>()[(o * r1 + i) * r2 + j] = a1.data_as<float>()[o * r1 + i] * a2.data_as<float>()[o * r2 + j];
  for (int64_t i = 0; i < r1; ++i)
    for (int64_t j = 0; j < r2; ++j)
      for (int64_t k = 0; k < K; ++k)
        down->data_as<float>()[(i * r2 + j) * K + k] = b1.data_as<float>()[i * K + k] * b2.data_as<float>()[j * K + k];
}

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

// A [rows, cols] factor: stored whole, or as a @ b.
Tensor factor(const Tensor& whole, const Tensor& a, const Tensor& b) {
  if (whole.data()) return whole.to_f32();
  const Tensor fa = a.to_f32(), fb = b.to_f32();
  const int64_t rows = fa.size(0), r = fa.size(1), cols = fb.numel() / r;
  Tensor out = Tensor::zeros(DType::F32, {rows, cols});
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t k = 0; k < r; ++k)
      for (int64_t j = 0; j < cols; ++j)
        out.data_as<float>()[i * cols + j] += fa.data_as<float>()[i * r + k] * fb.data_as<float>()[k * cols + j];
  return out;
}

// LoKr's difference kron(w1, w2) (w1 [a, b], w2 [c, D], D = d*kh*kw for a
// conv). With w2 = A B (A [c, r], B [r, D]) it is one low-rank pair: entry
// ((i,p), (j,q)) is w1[i,j] sum_k A[p,k] B[k,q], so up[(i,p), (j,k)] =
// w1[i,j] A[p,k] and down[(j,k), (j',q)] = [j = j'] B[k,q] (rank b*r). A
// whole w2 has no small rank: the difference is formed densely, [a*c, b*D].
void lokr_difference(const Tensor (&l)[6], Tensor* up, Tensor* down, Tensor* dense) {
  const Tensor w1 = factor(l[0], l[1], l[2]);
  const int64_t a = w1.size(0), b = w1.size(1);
  const float* W1 = w1.data_as<float>();
  if (l[3].data()) {
    const Tensor w2 = l[3].to_f32();
    const int64_t c = w2.size(0), D = w2.numel() / c;
    *dense = Tensor::empty(DType::F32, {a * c, b * D});
    for (int64_t i = 0; i < a; ++i)
      for (int64_t p = 0; p < c; ++p)
        for (int64_t j = 0; j < b; ++j)
          for (int64_t q = 0; q < D; ++q)
            dense->data_as<float>()[(i * c + p) * (b * D) + j * D + q] = W1[i * b + j] * w2.data_as<float>()[p * D + q];
    return;
  }
  const Tensor A = l[4].to_f32(), B = l[5].to_f32();
  const int64_t c = A.size(0), r = A.size(1), D = B.numel() / r;
  *up = Tensor::zeros(DType::F32, {a * c, b * r});
  *down = Tensor::zeros(DType::F32, {b * r, b * D});
  for (int64_t i = 0; i < a; ++i)
    for (int64_t p = 0; p < c; ++p)
      for (int64_t j = 0; j < b; ++j)
        for (int64_t k = 0; k < r; ++k)
          up->data_as<float>()[(i * c + p) * (b * r) + j * r + k] = W1[i * b + j] * A.data_as<float>()[p * r + k];
  for (int64_t j = 0; j < b; ++j)
    for (int64_t k = 0; k < r; ++k)
      for (int64_t q = 0; q < D; ++q) down->data_as<float>()[(j * r + k) * (b * D) + j * D + q] = B.data_as<float>()[k * D + q];
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
    refuse_unsupported_kinds(path, name);
    Role role;
    std::string module;
    if (!classify(name, &role, &module)) {
      out.unknown_keys.push_back(name);
      continue;
    }
    Tensor& slot = parts[module].slot(role);
    if (slot.data()) bad(path, "two tensors for " + name);
    slot = t;
  }
  const PeftAlphas peft = peft_alphas(file.metadata, path);
  for (auto& [module, p] : parts) {
    int64_t scale_rank = 0;  // alpha / scale_rank: LoHa scales by its factors' rank, not the product's
    if (p.hada[0].data() || p.hada[1].data() || p.hada[2].data() || p.hada[3].data()) {
      for (const Tensor& h : p.hada)
        if (!h.data() || h.dim() != 2) bad(path, module + ": a LoHa module needs 2-D hada_w1_a, hada_w1_b, hada_w2_a and hada_w2_b");
      const int64_t K = p.hada[1].size(1);
      if (p.hada[0].size(1) != p.hada[1].size(0) || p.hada[2].size(1) != p.hada[3].size(0) || p.hada[0].size(0) != p.hada[2].size(0) ||
          p.hada[3].size(1) != K)
        bad(path, module + ": LoHa factors have inconsistent shapes");
      scale_rank = p.hada[1].size(0);
      loha_as_low_rank(p.hada, &p.up, &p.down);
    }
    bool lokr_unscaled = false;
    Tensor dense;
    if (std::any_of(std::begin(p.lokr), std::end(p.lokr), [](const Tensor& t) { return t.data() != nullptr; })) {
      // w1 and w2 each whole or as a pair; alpha / r applies when one is a pair
      // (r: that pair's rank, w2's if both), else the difference is taken as is.
      const Tensor* l = p.lokr;
      const bool w1_ok = l[0].data() ? !l[1].data() && !l[2].data() && l[0].dim() == 2 : l[1].data() && l[2].data();
      const bool w2_ok = l[3].data() ? !l[4].data() && !l[5].data() : l[4].data() && l[5].data();
      if (!w1_ok || !w2_ok) bad(path, module + ": a LoKr module needs lokr_w1 (or lokr_w1_a and _b) and lokr_w2 (or lokr_w2_a and _b)");
      if ((l[1].data() && (l[1].dim() != 2 || l[2].dim() != 2 || l[1].size(1) != l[2].size(0))) ||
          (l[4].data() && (l[4].dim() != 2 || l[4].size(1) != l[5].size(0))))
        bad(path, module + ": LoKr factors have inconsistent shapes");
      scale_rank = l[4].data() ? l[5].size(0) : l[1].data() ? l[2].size(0) : 0;
      lokr_unscaled = scale_rank == 0;
      lokr_difference(p.lokr, &p.up, &p.down, &dense);
    }
    if (dense.data()) {
      LoraModule m;
      m.name = module;
      m.dense = dense;
      m.scale_rank = lokr_unscaled ? 1 : scale_rank;
      m.alpha = lokr_unscaled ? 1.0f : p.alpha.data() ? scalar_of(p.alpha, path, module) : float(scale_rank);
      out.modules.push_back(std::move(m));
      continue;
    }
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
    m.scale_rank = scale_rank ? scale_rank : m.rank();
    // Without an alpha tensor: the peft metadata's alpha, else alpha = rank.
    m.alpha = p.alpha.data() ? scalar_of(p.alpha, path, module) : peft_alpha(peft, module, m.scale_rank);
    out.modules.push_back(std::move(m));
  }
  if (out.modules.empty())
    bad(path,
        "no LoRA tensors (expected *.lora_down/lora_up.weight, *.lora_A/lora_B.weight, *.lora.down/up.weight or LoHa *.hada_w1_a ...)");
  return out;
}

}  // namespace sd
