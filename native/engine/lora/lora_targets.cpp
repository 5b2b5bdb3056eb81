#include "lora/lora_targets.h"

#include <map>
#include <vector>

#include "util/strings.h"

namespace sd {

namespace {

std::string flat(std::string s) {
  for (char& ch : s)
    if (ch == '.') ch = '_';
  return s;
}

// LDM ResBlock sub-layer -> diffusers ResnetBlock2D sub-layer (inverse of name_map).
std::string resnet_sub(const std::string& rest) {
  static const std::pair<const char*, const char*> kMap[] = {
      {"in_layers.0", "norm1"},  {"in_layers.2", "conv1"},  {"emb_layers.1", "time_emb_proj"},
      {"out_layers.0", "norm2"}, {"out_layers.3", "conv2"}, {"skip_connection", "conv_shortcut"},
  };
  for (const auto& [ldm, diff] : kMap) {
    const std::string l = ldm;
    if (rest == l) return diff;
    if (starts_with(rest, l + ".")) return diff + rest.substr(l.size());
  }
  return "";
}

// Where each LDM input/output block sits in diffusers' down/up blocks,
// derived from the weights present (downsampler = input_blocks.N.0.op,
// upsampler = output_blocks.N.{1,2}.conv ends an up block).
struct BlockLayout {
  std::map<int, std::pair<int, int>> input;   // N -> (block i, resnet/attention j), j = -1: downsampler
  std::map<int, std::pair<int, int>> output;  // N -> (block i, j)
  std::map<int, int> upsampler_slot;          // N -> sub-index (1 or 2) of its upsampler
};

int index_at(const std::string& name, size_t pos) {
  size_t end = name.find('.', pos);
  if (end == std::string::npos || end == pos || end - pos > 4) return -1;
  int v = 0;
  for (size_t k = pos; k < end; ++k) {
    if (name[k] < '0' || name[k] > '9') return -1;
    v = v * 10 + (name[k] - '0');
  }
  return v;
}

BlockLayout block_layout(const ModelWeights& w) {
  int max_in = -1, max_out = -1;
  for (const auto& [name, t] : w.all()) {
    if (starts_with(name, "unet.input_blocks.")) max_in = std::max(max_in, index_at(name, 18));
    if (starts_with(name, "unet.output_blocks.")) max_out = std::max(max_out, index_at(name, 19));
  }
  BlockLayout L;
  for (int n = 1, i = 0, j = 0; n <= max_in; ++n) {
    if (w.has("unet.input_blocks." + std::to_string(n) + ".0.op.weight")) {
      L.input[n] = {i++, -1};
      j = 0;
    } else {
      L.input[n] = {i, j++};
    }
  }
  for (int n = 0, i = 0, j = 0; n <= max_out; ++n) {
    L.output[n] = {i, j++};
    for (int slot : {1, 2}) {
      if (w.has("unet.output_blocks." + std::to_string(n) + "." + std::to_string(slot) + ".conv.weight")) {
        L.upsampler_slot[n] = slot;
        ++i;
        j = 0;
      }
    }
  }
  return L;
}

std::string unet_path(const BlockLayout& L, const std::string& m) {
  static const std::pair<const char*, const char*> kFixed[] = {
      {"input_blocks.0.0", "conv_in"},
      {"time_embed.0", "time_embedding.linear_1"},
      {"time_embed.2", "time_embedding.linear_2"},
      {"label_emb.0.0", "add_embedding.linear_1"},
      {"label_emb.0.2", "add_embedding.linear_2"},
      {"out.0", "conv_norm_out"},
      {"out.2", "conv_out"},
  };
  for (const auto& [ldm, diff] : kFixed)
    if (m == ldm) return diff;
  if (starts_with(m, "middle_block.")) {
    const int k = index_at(m, 13);
    const std::string rest = m.substr(m.find('.', 13) + 1);
    if (k == 1) return "mid_block.attentions.0." + rest;
    const std::string sub = resnet_sub(rest);
    if ((k == 0 || k == 2) && !sub.empty()) return "mid_block.resnets." + std::to_string(k / 2) + "." + sub;
    return "";
  }
  const bool in = starts_with(m, "input_blocks.");
  if (!in && !starts_with(m, "output_blocks.")) return "";
  const size_t p0 = in ? 13 : 14;
  const int n = index_at(m, p0);
  if (n < 0) return "";
  const size_t p1 = m.find('.', p0) + 1;
  const int sub = index_at(m, p1);
  if (sub < 0) return "";
  const std::string rest = m.substr(m.find('.', p1) + 1);
  const auto& table = in ? L.input : L.output;
  auto it = table.find(n);
  if (it == table.end()) return "";
  const auto [i, j] = it->second;
  const std::string block = std::string(in ? "down_blocks." : "up_blocks.") + std::to_string(i) + ".";
  if (in && j < 0) return rest == "op" ? block + "downsamplers.0.conv" : "";
  if (!in) {
    auto us = L.upsampler_slot.find(n);
    if (us != L.upsampler_slot.end() && sub == us->second) return rest == "conv" ? block + "upsamplers.0.conv" : "";
  }
  if (sub == 0) {
    const std::string r = resnet_sub(rest);
    return r.empty() ? "" : block + "resnets." + std::to_string(j) + "." + r;
  }
  if (sub == 1) return block + "attentions." + std::to_string(j) + "." + rest;
  return "";
}

}  // namespace

std::string unet_diffusers_path(const ModelWeights& weights, const std::string& ldm_module) {
  return unet_path(block_layout(weights), ldm_module);
}

LoraTargets lora_targets(const LoadedModel& model) {
  LoraTargets out;
  const BlockLayout layout = block_layout(model.weights);
  const bool sdxl = model.info.family == "sdxl";
  for (const auto& [name, t] : model.weights.all()) {
    if (!ends_with(name, ".weight") || t.dim() < 2) continue;  // LoRA modifies matmul / conv weights only
    const std::string module = name.substr(0, name.size() - 7);
    if (starts_with(module, "unet.")) {
      const std::string ldm = module.substr(5);
      out["lora_unet_" + flat(ldm)] = name;
      const std::string diff = unet_path(layout, ldm);
      if (diff.empty()) continue;
      out["lora_unet_" + flat(diff)] = name;
      out["unet." + diff] = name;
    } else if (starts_with(module, "te1.")) {
      const std::string hf = module.substr(4);
      if (!sdxl) out["lora_te_" + flat(hf)] = name;
      out["lora_te1_" + flat(hf)] = name;
      out["text_encoder." + hf] = name;
    } else if (starts_with(module, "te2.")) {
      const std::string hf = module.substr(4);
      out["lora_te2_" + flat(hf)] = name;
      out["text_encoder_2." + hf] = name;
    }
  }
  return out;
}

}  // namespace sd
