#include "io/name_map.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>

#include "core/error.h"
#include "util/strings.h"

namespace sd {

namespace {

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> parts;
  size_t b = 0;
  for (size_t i = 0; i <= s.size(); ++i) {
    if (i == s.size() || s[i] == '.') {
      parts.push_back(s.substr(b, i - b));
      b = i + 1;
    }
  }
  return parts;
}

std::string join(const std::vector<std::string>& p, size_t from) {
  std::string out;
  for (size_t i = from; i < p.size(); ++i) {
    if (!out.empty()) out += '.';
    out += p[i];
  }
  return out;
}

// A block index in a tensor name: small non-negative decimal, else -1.
int index_of(const std::string& s) {
  if (s.empty() || s.size() > 4) return -1;
  for (char c : s)
    if (c < '0' || c > '9') return -1;
  return std::atoi(s.c_str());
}

[[noreturn]] void unknown(const std::string& where, const std::string& name) {
  fail(ErrorCode::ModelUnsupported,
       "unrecognised tensor \"" + name + "\" in the " + where + " weights (an architecture sd-native does not run)");
}

// diffusers ResnetBlock2D sub-layer -> LDM ResBlock sub-layer.
std::string unet_resnet_sub(const std::string& layer) {
  static const std::map<std::string, std::string> kMap = {
      {"norm1", "in_layers.0"},  {"conv1", "in_layers.2"},  {"time_emb_proj", "emb_layers.1"},
      {"norm2", "out_layers.0"}, {"conv2", "out_layers.3"}, {"conv_shortcut", "skip_connection"},
  };
  auto it = kMap.find(layer);
  return it == kMap.end() ? std::string() : it->second;
}

// How a diffusers down/up block list is laid out, counted from the names.
struct BlockCounts {
  std::vector<int> resnets;  // resnets per block
  std::vector<bool> attn;    // block has attentions
  std::vector<bool> sample;  // block has a down/upsampler
  void grow(int i) {
    if (i >= static_cast<int>(resnets.size())) {
      resnets.resize(i + 1, 0);
      attn.resize(i + 1, false);
      sample.resize(i + 1, false);
    }
  }
};

BlockCounts count_blocks(const NamedTensors& tensors, const std::string& prefix, const std::string& sampler) {
  BlockCounts c;
  for (const auto& [name, t] : tensors) {
    if (!starts_with(name, prefix)) continue;
    auto p = split(name.substr(prefix.size()));
    if (p.size() < 3) continue;
    int i = index_of(p[0]);
    if (i < 0) continue;
    c.grow(i);
    int j = index_of(p[2]);
    if (p[1] == "resnets" && j >= 0) c.resnets[i] = std::max(c.resnets[i], j + 1);
    if (p[1] == "attentions") c.attn[i] = true;
    if (p[1] == sampler) c.sample[i] = true;
  }
  return c;
}

void put(ModelWeights* out, const std::string& name, const Tensor& t) {
  if (out->has(name)) fail(ErrorCode::ModelFormat, "two tensors map to the same weight \"" + name + "\"");
  out->set(name, t);
}

// OpenCLIP's text_projection [in, out] -> an HF Linear weight [out, in]: a
// small element-wise transposed copy in the stored dtype.
Tensor openclip_projection_as_linear(const Tensor& t, const std::string& prefix) {
  if (t.dim() != 2) fail(ErrorCode::ModelFormat, prefix + ": text_projection has shape " + shape_str(t.shape()) + "; expected 2-D");
  if (dtype_is_quantized(t.dtype()))
    fail(ErrorCode::ModelUnsupported, prefix + ": a block-quantized OpenCLIP text_projection cannot be transposed");
  const int64_t rows = t.size(0), cols = t.size(1), es = dtype_bytes_for(t.dtype(), 1);
  Tensor tr = Tensor::empty(t.dtype(), {cols, rows});
  const char* s = static_cast<const char*>(t.data());
  char* d = static_cast<char*>(tr.data());
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) std::memcpy(d + (c * rows + r) * es, s + (r * cols + c) * es, static_cast<size_t>(es));
  return tr;
}

// stable-diffusion.cpp's converter writes OpenCLIP encoders under Hugging
// Face names (q/k/v split, or fused as `self_attn.in_proj.*` by its newer
// --convert-name), all layers kept, the projection as
// `text_model.text_projection` in OpenCLIP's [in, out] layout. SD 2.x's
// ViT-H (width 1024) then runs its penultimate layer, as from OpenCLIP names;
// SDXL's bigG keeps its projection, transposed to a Linear weight.
NamedTensors from_hf_named_openclip(NamedTensors tensors, const std::string& prefix, bool keep_projection, ModelWeights* out) {
  int layers = 0;
  int64_t width = 0;
  for (const auto& [name, t] : tensors) {
    auto p = split(name);
    if (p.size() > 3 && p[0] == "text_model" && p[1] == "encoder" && p[2] == "layers" && index_of(p[3]) >= 0)
      layers = std::max(layers, index_of(p[3]) + 1);
    if (name == "text_model.embeddings.token_embedding.weight" && t.dim() == 2) width = t.size(1);
  }
  const bool sd2 = !keep_projection && width == 1024 && layers >= 2;
  const int keep = sd2 ? sd2_text_layers_to_run(width, layers) : layers;
  NamedTensors kept;
  for (auto& [name, t] : tensors) {
    auto p = split(name);
    if (name == "text_model.text_projection") {
      if (keep_projection) put(out, prefix + ".text_projection.weight", openclip_projection_as_linear(t, prefix));
      continue;
    }
    if (p.size() > 3 && p[0] == "text_model" && p[1] == "encoder" && p[2] == "layers" && index_of(p[3]) >= keep) continue;
    if (p.size() == 7 && p[4] == "self_attn" && p[5] == "in_proj" && t.dim() >= 1 && t.size(0) % 3 == 0 && t.size(0) > 0) {
      const std::string base = "text_model.encoder.layers." + p[3] + ".self_attn.", kind = p[6];  // cat(q, k, v) along rows
      const int64_t h = t.size(0) / 3;
      kept.emplace_back(base + "q_proj." + kind, t.slice_rows(0, h));
      kept.emplace_back(base + "k_proj." + kind, t.slice_rows(h, 2 * h));
      kept.emplace_back(base + "v_proj." + kind, t.slice_rows(2 * h, 3 * h));
      continue;
    }
    kept.emplace_back(std::move(name), std::move(t));
  }
  return kept;
}

// LDM attention 1x1 convs: diffusers stores them as Linear [C, C].
Tensor as_conv1x1(const Tensor& t) {
  if (t.dim() == 2) return t.reshape({t.size(0), t.size(1), 1, 1});
  return t;
}

}  // namespace

void map_diffusers_unet(const NamedTensors& tensors, int layers_per_block, ModelWeights* out) {
  BlockCounts down = count_blocks(tensors, "down_blocks.", "downsamplers");
  BlockCounts up = count_blocks(tensors, "up_blocks.", "upsamplers");
  for (size_t i = 0; i < down.resnets.size(); ++i) {
    if (layers_per_block >= 0 && down.resnets[i] != layers_per_block)
      fail(ErrorCode::ModelFormat, "unet: down_blocks." + std::to_string(i) + " has " + std::to_string(down.resnets[i]) +
                                       " resnets but config.json says layers_per_block " + std::to_string(layers_per_block));
  }
  // First LDM input_blocks index of each down block (index 0 is conv_in).
  std::vector<int> down_start(down.resnets.size());
  for (size_t i = 0, next = 1; i < down.resnets.size(); ++i) {
    down_start[i] = static_cast<int>(next);
    next += down.resnets[i] + (down.sample[i] ? 1 : 0);
  }
  std::vector<int> up_start(up.resnets.size());
  for (size_t i = 0, next = 0; i < up.resnets.size(); ++i) {
    up_start[i] = static_cast<int>(next);
    next += up.resnets[i];
  }

  for (const auto& [name, t] : tensors) {
    auto p = split(name);
    std::string ldm;
    const std::string& head = p[0];
    if (head == "conv_in") {
      ldm = "input_blocks.0.0." + join(p, 1);
    } else if ((head == "time_embedding" || head == "add_embedding") && p.size() == 3) {
      std::string base = head == "time_embedding" ? "time_embed." : "label_emb.0.";
      if (p[1] == "linear_1") ldm = base + "0." + p[2];
      if (p[1] == "linear_2") ldm = base + "2." + p[2];
    } else if (head == "conv_norm_out") {
      ldm = "out.0." + join(p, 1);
    } else if (head == "conv_out") {
      ldm = "out.2." + join(p, 1);
    } else if ((head == "down_blocks" || head == "up_blocks") && p.size() >= 5) {
      bool is_down = head == "down_blocks";
      int i = index_of(p[1]), j = index_of(p[3]);
      const BlockCounts& c = is_down ? down : up;
      if (i >= 0 && j >= 0 && i < static_cast<int>(c.resnets.size())) {
        int first = is_down ? down_start[i] : up_start[i];
        std::string blocks = is_down ? "input_blocks." : "output_blocks.";
        if (p[2] == "resnets") {
          std::string sub = unet_resnet_sub(p[4]);
          if (!sub.empty()) ldm = blocks + std::to_string(first + j) + ".0." + sub + "." + join(p, 5);
        } else if (p[2] == "attentions") {
          ldm = blocks + std::to_string(first + j) + ".1." + join(p, 4);
        } else if (is_down && p[2] == "downsamplers" && j == 0 && p[4] == "conv") {
          ldm = blocks + std::to_string(first + c.resnets[i]) + ".0.op." + join(p, 5);
        } else if (!is_down && p[2] == "upsamplers" && j == 0 && p[4] == "conv") {
          ldm = blocks + std::to_string(first + c.resnets[i] - 1) + (c.attn[i] ? ".2.conv." : ".1.conv.") + join(p, 5);
        }
      }
    } else if (head == "mid_block" && p.size() >= 4) {
      int j = index_of(p[2]);
      if (p[1] == "resnets" && (j == 0 || j == 1)) {
        std::string sub = unet_resnet_sub(p[3]);
        if (!sub.empty()) ldm = "middle_block." + std::to_string(j * 2) + "." + sub + "." + join(p, 4);
      } else if (p[1] == "attentions" && j == 0) {
        ldm = "middle_block.1." + join(p, 3);
      }
    }
    if (ldm.empty()) unknown("unet", name);
    put(out, "unet." + ldm, t);
  }
}

void map_diffusers_vae(const NamedTensors& tensors, ModelWeights* out) {
  BlockCounts dec_up = count_blocks(tensors, "decoder.up_blocks.", "upsamplers");
  const int n_up = static_cast<int>(dec_up.resnets.size());
  static const std::map<std::string, std::string> kAttn = {
      {"group_norm", "norm"}, {"to_q", "q"}, {"to_k", "k"},  {"to_v", "v"},
      {"query", "q"},         {"key", "k"},  {"value", "v"}, {"proj_attn", "proj_out"},
  };
  for (const auto& [name, t] : tensors) {
    auto p = split(name);
    std::string ldm;
    Tensor mapped = t;
    const std::string& head = p[0];
    if ((head == "quant_conv" || head == "post_quant_conv") && p.size() == 2) {
      ldm = name;
    } else if ((head == "encoder" || head == "decoder") && p.size() >= 3) {
      const std::string& part = p[1];
      if (part == "conv_in" || part == "conv_out") {
        ldm = name;
      } else if (part == "conv_norm_out") {
        ldm = head + ".norm_out." + join(p, 2);
      } else if ((part == "down_blocks" || part == "up_blocks") && p.size() >= 6) {
        int i = index_of(p[2]), j = index_of(p[4]);
        bool is_down = part == "down_blocks";
        if (i >= 0 && j >= 0 && (is_down || i < n_up)) {
          // The decoder's up blocks run in the opposite order to LDM's `up` list.
          std::string block = is_down ? head + ".down." + p[2] : head + ".up." + std::to_string(n_up - 1 - i);
          if (p[3] == "resnets") {
            std::string layer = p[5] == "conv_shortcut" ? "nin_shortcut" : p[5];
            ldm = block + ".block." + p[4] + "." + layer + "." + join(p, 6);
          } else if (p[3] == (is_down ? "downsamplers" : "upsamplers") && j == 0 && p[5] == "conv") {
            ldm = block + (is_down ? ".downsample.conv." : ".upsample.conv.") + join(p, 6);
          }
        }
      } else if (part == "mid_block" && p.size() >= 5) {
        int j = index_of(p[3]);
        if (p[2] == "resnets" && (j == 0 || j == 1)) {
          ldm = head + ".mid.block_" + std::to_string(j + 1) + "." + join(p, 4);
        } else if (p[2] == "attentions" && j == 0) {
          std::string layer = p[4];
          size_t rest = 5;
          if (layer == "to_out" && p.size() > 6 && p[5] == "0") {
            layer = "proj_out";
            rest = 6;
          } else {
            auto it = kAttn.find(layer);
            layer = it == kAttn.end() ? std::string() : it->second;
          }
          if (!layer.empty()) {
            ldm = head + ".mid.attn_1." + layer + "." + join(p, rest);
            if (layer != "norm") mapped = as_conv1x1(t);
          }
        }
      }
    }
    if (ldm.empty()) unknown("vae", name);
    put(out, "vae." + ldm, mapped);
  }
}

void map_hf_text_encoder(const NamedTensors& tensors, const std::string& prefix, ModelWeights* out) {
  for (const auto& [name, t] : tensors) {
    // position_ids is an integer buffer, not a weight.
    if (name == "text_model.embeddings.position_ids") continue;
    if (!starts_with(name, "text_model.") && name != "text_projection.weight") unknown("text encoder", name);
    put(out, prefix + "." + name, t);
  }
}

int sd2_text_layers_to_run(int64_t width, int layers) {
  constexpr int64_t kVitHWidth = 1024;
  constexpr int kVitHLayers = 24;
  if (width == kVitHWidth && layers == kVitHLayers - 1) return layers;  // exported from diffusers: the last layer is already gone
  return layers - 1;
}

void map_openclip_text_encoder(const NamedTensors& tensors, const std::string& prefix, bool drop_last_layer, bool keep_projection,
                               ModelWeights* out, const std::string& source_prefix, std::map<std::string, Tensor>* carried) {
  auto carry = [&](const std::string& name, const Tensor& t) { (*carried)[source_prefix + name] = t; };
  int layers = 0;
  int64_t width = 0;
  for (const auto& [name, t] : tensors) {
    auto p = split(name);
    if (p.size() > 2 && p[0] == "transformer" && p[1] == "resblocks" && index_of(p[2]) >= 0) layers = std::max(layers, index_of(p[2]) + 1);
    if (name == "token_embedding.weight" && t.dim() == 2) width = t.size(1);
  }
  if (drop_last_layer && layers < 2)
    fail(ErrorCode::ModelFormat, prefix + ": OpenCLIP text encoder has " + std::to_string(layers) + " layers; expected at least 2");
  const int keep = drop_last_layer ? sd2_text_layers_to_run(width, layers) : layers;
  static const std::map<std::string, std::string> kLayer = {
      {"ln_1", "layer_norm1"},
      {"ln_2", "layer_norm2"},
      {"mlp.c_fc", "mlp.fc1"},
      {"mlp.c_proj", "mlp.fc2"},
      {"attn.out_proj", "self_attn.out_proj"},
  };
  const std::string tm = prefix + ".text_model.";
  for (const auto& [name, t] : tensors) {
    auto p = split(name);
    if (name == "token_embedding.weight") {
      put(out, tm + "embeddings.token_embedding.weight", t);
    } else if (name == "positional_embedding") {
      put(out, tm + "embeddings.position_embedding.weight", t);
    } else if (p.size() == 2 && p[0] == "ln_final") {
      put(out, tm + "final_layer_norm." + p[1], t);
    } else if (name == "text_projection") {
      if (!keep_projection) {
        carry(name, t);
        continue;
      }
      put(out, prefix + ".text_projection.weight", openclip_projection_as_linear(t, prefix));
    } else if (name == "text_projection.weight") {
      // Already a Linear [out, in] (some SDXL conversion scripts renamed HF's).
      if (keep_projection)
        put(out, prefix + ".text_projection.weight", t);
      else
        carry(name, t);
    } else if (name == "logit_scale") {
      carry(name, t);  // contrastive-loss temperature, unused for conditioning
      continue;
    } else if (ends_with(name, "position_ids")) {
      continue;  // a buffer (0..76) some conversions pass through; positions are implicit
    } else if (p.size() >= 5 && p[0] == "transformer" && p[1] == "resblocks" && index_of(p[2]) >= 0) {
      int layer = index_of(p[2]);
      if (layer >= keep) {
        carry(name, t);
        continue;
      }
      const std::string base = tm + "encoder.layers." + p[2] + ".";
      std::string rest = join(p, 3);
      if (rest == "attn.in_proj_weight" || rest == "attn.in_proj_bias") {
        // Fused [3*H, ...] = cat(q, k, v) along rows; split into row views.
        const int64_t rows = t.dim() >= 1 ? t.size(0) : 0;
        if (rows % 3 != 0 || rows == 0)
          fail(ErrorCode::ModelFormat, prefix + ": " + name + " has shape " + shape_str(t.shape()) + "; expected [3*H, ...]");
        const std::string kind = rest == "attn.in_proj_weight" ? "weight" : "bias";
        const int64_t h = rows / 3;
        put(out, base + "self_attn.q_proj." + kind, t.slice_rows(0, h));
        put(out, base + "self_attn.k_proj." + kind, t.slice_rows(h, 2 * h));
        put(out, base + "self_attn.v_proj." + kind, t.slice_rows(2 * h, 3 * h));
        continue;
      }
      std::string sub;
      for (const auto& [from, to] : kLayer) {
        if (starts_with(rest, from + ".") && rest.size() > from.size() + 1) {
          sub = to + rest.substr(from.size());
          break;
        }
      }
      if (sub.empty()) unknown("OpenCLIP text encoder", name);
      put(out, base + sub, t);
    } else {
      unknown("OpenCLIP text encoder", name);
    }
  }
}

SingleFileLayout map_single_file(const NamedTensors& tensors, ModelWeights* out) {
  SingleFileLayout layout;
  NamedTensors unet, vae, te1_hf, te1_oc, te2_oc, te2_hf;
  NamedTensors diff_unet, diff_vae, diff_te2;  // a diffusers folder in one file: unet. / vae. / te. / te.1. (stable-diffusion.cpp)
  std::string te2_prefix;
  for (const auto& [name, t] : tensors) {
    auto take = [&, &name = name, &t = t](const std::string& prefix, NamedTensors* dst) {  // C++17 lambdas cannot capture bindings (clang)
      if (!starts_with(name, prefix)) return false;
      dst->emplace_back(name.substr(prefix.size()), t);
      if (dst == &te2_oc) te2_prefix = prefix;
      return true;
    };
    if (take("model.diffusion_model.", &unet) || take("first_stage_model.", &vae) || take("cond_stage_model.transformer.", &te1_hf) ||
        take("conditioner.embedders.0.transformer.", &te1_hf) || take("cond_stage_model.model.", &te1_oc) ||
        take("conditioner.embedders.1.model.", &te2_oc) ||
        take("conditioner.embedders.0.model.", &te2_oc) ||   // SDXL refiner: OpenCLIP only
        take("cond_stage_model.1.transformer.", &te2_hf) ||  // sd.cpp's SDXL bigG
        take("unet.", &diff_unet) || take("vae.", &diff_vae) || take("te.1.", &diff_te2) || take("te.", &te1_hf))
      continue;
    if (name == "v_pred" || name == "ztsnr") {  // markers: v-prediction, zero terminal SNR training
      layout.v_pred_marker |= name == "v_pred";
      layout.carried[name] = t;
      continue;
    }
    ++layout.ignored;
  }
  for (auto& [name, t] : unet) put(out, "unet." + name, t);
  if (!diff_unet.empty()) map_diffusers_unet(diff_unet, /*layers_per_block=*/-1, out);
  if (!diff_vae.empty()) map_diffusers_vae(diff_vae, out);
  if (!diff_te2.empty()) map_hf_text_encoder(diff_te2, "te2", out);
  for (auto& [name, t] : vae) {
    // Some converters store the VAE attention as Linear [C, C].
    bool attn = name.find(".mid.attn_1.") != std::string::npos && name.find(".norm.") == std::string::npos;
    put(out, "vae." + name, attn ? as_conv1x1(t) : t);
  }
  for (auto& [name, t] : te1_hf) {
    // Old transformers versions had no `text_model.` level.
    if (!starts_with(name, "text_model.") && name != "text_projection.weight") name = "text_model." + name;
  }
  // HF-named OpenCLIP encoders (stable-diffusion.cpp's GGUF): SD 2.x's as te1 (no te2), SDXL's bigG as te2.
  map_hf_text_encoder(from_hf_named_openclip(std::move(te1_hf), "te1", /*keep_projection=*/false, out), "te1", out);
  if (!te2_hf.empty()) map_hf_text_encoder(from_hf_named_openclip(std::move(te2_hf), "te2", /*keep_projection=*/true, out), "te2", out);
  if (!te1_oc.empty()) {
    layout.te1_openclip = true;
    map_openclip_text_encoder(te1_oc, "te1", /*drop_last_layer=*/true, /*keep_projection=*/false, out, "cond_stage_model.model.",
                              &layout.carried);
  }
  if (!te2_oc.empty())
    map_openclip_text_encoder(te2_oc, "te2", /*drop_last_layer=*/false, /*keep_projection=*/true, out, te2_prefix, &layout.carried);
  return layout;
}

}  // namespace sd
