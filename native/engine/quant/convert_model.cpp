#include "quant/convert_model.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <vector>

#include "core/error.h"
#include "io/clip_vocab.h"
#include "io/file_path.h"
#include "io/gguf_writer.h"
#include "pipeline/prediction_probe.h"
#include "quant/blocks.h"
#include "quant/quantize_model.h"
#include "util/strings.h"

namespace sd {
namespace quant {
namespace {

// One tensor of the output file: its single-file name, type and shape, and
// where its values come from: the rows of one or more loaded tensors in
// order (OpenCLIP's fused attn.in_proj = q, k, v), one loaded tensor
// transposed (OpenCLIP's text_projection is stored [in, out]), or none
// (zeros: the SD 2.x layer a diffusers folder lacks, below).
struct OutTensor {
  GgufTensorSpec spec;
  std::vector<const Tensor*> rows;
  bool transpose = false;
  std::string canonical;  // the (first) loaded tensor's name, for the type rule; "" for carried tensors
};

// The single-file prefixes of a model's text encoders: SD 1.x
// cond_stage_model.transformer.; SD 2.x cond_stage_model.model. (OpenCLIP
// names); SDXL conditioner.embedders.0.transformer. (CLIP-L) and
// conditioner.embedders.1.model. (OpenCLIP bigG; embedders.0 on a refiner,
// which has no CLIP-L).
struct TextPrefixes {
  std::string te1, te2;
  bool te1_openclip = false;
};

TextPrefixes text_prefixes(const LoadedModel& m) {
  if (m.info.family == "sd1") return {"cond_stage_model.transformer.", "", false};
  if (m.info.family == "sd2") return {"cond_stage_model.model.", "", true};
  if (m.info.family == "sdxl") {
    const bool refiner = !m.weights.has("te1.text_model.final_layer_norm.weight");
    return {"conditioner.embedders.0.transformer.", refiner ? "conditioner.embedders.0.model." : "conditioner.embedders.1.model.", false};
  }
  fail(ErrorCode::ModelUnsupported, "convert: " + m.info.family + " checkpoints are not supported (SD 1.x, SD 2.x and SDXL)");
}

// OpenCLIP's name for a canonical (Hugging Face) text-encoder name after
// "teN.": "" to skip it (k_proj / v_proj, written inside the fused in_proj).
std::string openclip_name(const std::string& hf) {
  static const std::pair<const char*, const char*> kLayer[] = {
      {"self_attn.q_proj.weight", "attn.in_proj_weight"},
      {"self_attn.q_proj.bias", "attn.in_proj_bias"},
      {"self_attn.out_proj.", "attn.out_proj."},
      {"layer_norm1.", "ln_1."},
      {"layer_norm2.", "ln_2."},
      {"mlp.fc1.", "mlp.c_fc."},
      {"mlp.fc2.", "mlp.c_proj."},
  };
  if (hf == "text_model.embeddings.token_embedding.weight") return "token_embedding.weight";
  if (hf == "text_model.embeddings.position_embedding.weight") return "positional_embedding";
  if (hf == "text_projection.weight") return "text_projection";
  if (starts_with(hf, "text_model.final_layer_norm.")) return "ln_final." + hf.substr(28);
  const std::string layers = "text_model.encoder.layers.";
  if (starts_with(hf, layers)) {
    const size_t dot = hf.find('.', layers.size());
    const std::string index = hf.substr(layers.size(), dot - layers.size()), rest = dot == std::string::npos ? "" : hf.substr(dot + 1);
    if (starts_with(rest, "self_attn.k_proj.") || starts_with(rest, "self_attn.v_proj.")) return "";
    for (const auto& [from, to] : kLayer)
      if (starts_with(rest, from)) return "transformer.resblocks." + index + "." + to + rest.substr(std::string(from).size());
  }
  fail(ErrorCode::ModelUnsupported, "convert: no OpenCLIP name for text-encoder weight \"" + hf + "\"");
}

// Names `o` for the OpenCLIP encoder under `prefix` from its canonical name
// (teN.<HF name>); false to skip it (written inside a fused in_proj).
bool name_openclip(const LoadedModel& m, const std::string& prefix, OutTensor* o) {
  const std::string& name = o->canonical;
  const std::string oc = openclip_name(name.substr(4));
  if (oc.empty()) return false;
  o->spec.name = prefix + oc;
  if (ends_with(oc, "attn.in_proj_weight") || ends_with(oc, "attn.in_proj_bias")) {
    const std::string kind = ends_with(oc, "weight") ? "weight" : "bias",
                      q = name.substr(0, name.size() - kind.size() - 7);  // "...self_attn."
    o->rows.push_back(&m.weights.get(q + "k_proj." + kind));
    o->rows.push_back(&m.weights.get(q + "v_proj." + kind));
  }
  o->transpose = oc == "text_projection";
  return true;
}

// SD 2.x conditions on the penultimate OpenCLIP layer, so a diffusers folder
// has one layer fewer than the single files every loader expects. The
// missing last layer is written as zeros: with zero out_proj and c_proj it
// is an identity residual block, so even a loader that ran it would get the
// penultimate layer's output.
void add_zero_last_layer(const LoadedModel& m, const std::string& prefix, std::vector<OutTensor>* out) {
  int layers = 0;
  while (m.weights.has("te1.text_model.encoder.layers." + std::to_string(layers) + ".self_attn.q_proj.weight")) ++layers;
  const std::string first = prefix + "transformer.resblocks.0.", last = prefix + "transformer.resblocks." + std::to_string(layers) + ".";
  for (const auto& [name, t] : m.carried)
    if (starts_with(name, last)) return;  // a single file's own last layer travels in `carried`
  std::vector<OutTensor> zeros;
  for (const OutTensor& o : *out) {
    if (!starts_with(o.spec.name, first)) continue;
    OutTensor z = o;
    z.spec.name = last + o.spec.name.substr(first.size());
    z.rows.clear();
    z.transpose = false;
    zeros.push_back(std::move(z));
  }
  out->insert(out->end(), zeros.begin(), zeros.end());
}

// Every loaded tensor under its single-file name (shapes as stored there),
// then the carried ones (LoadedModel::carried) under their own.
std::vector<OutTensor> single_file_layout(const LoadedModel& m) {
  const TextPrefixes te = text_prefixes(m);
  std::vector<OutTensor> out;
  for (const auto& [name, t] : m.weights.all()) {
    OutTensor o;
    o.canonical = name;
    o.rows = {&t};
    if (starts_with(name, "unet.")) {
      o.spec.name = "model.diffusion_model." + name.substr(5);
    } else if (starts_with(name, "vae.")) {
      o.spec.name = "first_stage_model." + name.substr(4);
    } else if (starts_with(name, "te1.") && te.te1_openclip) {
      if (!name_openclip(m, te.te1, &o)) continue;
    } else if (starts_with(name, "te1.") && !te.te1.empty()) {
      o.spec.name = te.te1 + name.substr(4);
    } else if (starts_with(name, "te2.") && !te.te2.empty()) {
      if (!name_openclip(m, te.te2, &o)) continue;
    } else {
      fail(ErrorCode::ModelUnsupported, "convert: no single-file name for weight \"" + name + "\"");
    }
    Shape shape = t.shape();
    for (size_t i = 1; i < o.rows.size(); ++i) shape[0] += o.rows[i]->size(0);
    if (o.transpose) {
      if (t.dim() != 2 || !dtype_is_float(t.dtype()))
        fail(ErrorCode::ModelUnsupported,
             "convert: cannot transpose " + name + " (" + dtype_name(t.dtype()) + " " + shape_str(t.shape()) + ")");
      shape = {t.size(1), t.size(0)};
    }
    o.spec.shape = shape;
    out.push_back(std::move(o));
  }
  if (te.te1_openclip) add_zero_last_layer(m, te.te1, &out);
  for (const auto& [name, t] : m.carried) {
    OutTensor o;
    o.spec.name = name;
    o.spec.shape = t.dim() == 0 || t.numel() == 0 ? Shape{1} : t.shape();  // GGUF tensors have >= 1 dimension and element
    if (t.numel() > 0) o.rows = {&t};                                      // an empty marker (v_pred, ztsnr) is written as one zero
    out.push_back(std::move(o));
  }
  // A v-prediction model says so with a `v_pred` tensor, the marker
  // stable-diffusion.cpp and ComfyUI read (SDXL); our loader reads it too.
  if (m.info.prediction == "v" && !m.carried.count("v_pred")) {
    OutTensor o;
    o.spec.name = "v_pred";
    o.spec.shape = {1};
    out.push_back(std::move(o));
  }
  return out;
}

// Writes o's values as `to` into dst, row by row.
void fill_tensor(const OutTensor& o, DType to, uint8_t* dst) {
  const int64_t cols = o.spec.shape.back(), out_bytes = dtype_bytes_for(to, cols);
  if (o.rows.empty()) {  // all-zero bytes are zeros in every float and block format (zero scales)
    int64_t rows = 1;
    for (size_t i = 0; i + 1 < o.spec.shape.size(); ++i) rows *= o.spec.shape[i];
    std::memset(dst, 0, static_cast<size_t>(rows * out_bytes));
    return;
  }
  std::vector<float> scratch(static_cast<size_t>(cols));
  if (o.transpose) {
    const Tensor t = o.rows[0]->to_f32();  // [out, in] -> rows of [in, out]
    const int64_t rows = o.spec.shape[0];
    std::vector<float> row(static_cast<size_t>(cols));
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t c = 0; c < cols; ++c) row[size_t(c)] = t.data_as<float>()[c * rows + r];
      convert_row(DType::F32, row.data(), to, cols, dst + r * out_bytes, scratch.data());
    }
    return;
  }
  for (const Tensor* t : o.rows) {
    const int64_t n = t->dim() == 1 ? t->numel() : cols;  // a 1-D source (a fused bias's part) is one short row
    const int64_t rows = t->numel() / n, in_bytes = dtype_bytes_for(t->dtype(), n), n_out = dtype_bytes_for(to, n);
    scratch.resize(static_cast<size_t>(std::max(n, cols)));
    for (int64_t r = 0; r < rows; ++r, dst += n_out)
      convert_row(t->dtype(), static_cast<const uint8_t*>(t->data()) + r * in_bytes, to, n, dst, scratch.data());
  }
}

}  // namespace

void convert_to_gguf(const std::string& src, const std::string& out_path, const std::string& type,
                     const std::function<void(size_t, size_t)>& progress) {
  DType target;
  if (!dtype_from_name(type, &target) || !(dtype_is_float(target) ? target != DType::F64 : is_block_format(target)))
    fail(ErrorCode::InvalidOption,
         "convert: type \"" + type + "\" is not one of f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, q2_K, q3_K, q4_K, q5_K, q6_K");
  std::error_code ec;
  if (std::filesystem::equivalent(fs_path(src), fs_path(out_path), ec))
    fail(ErrorCode::InvalidOption, "convert: the output " + out_path + " is the source checkpoint itself; write to another file");
  auto model = load_model(src, {});
  settle_prediction(model.get());  // recorded in the output (modelspec.prediction_type)
  const DType base = (target == DType::F32 || target == DType::BF16) ? target : DType::F16;

  std::vector<OutTensor> items = single_file_layout(*model);
  for (OutTensor& o : items) {
    // The converter also keeps the U-Net's time and SDXL label embeddings in float; a transposed tensor is
    // written from f32; carried tensors (never run) stay float.
    const bool quantize = !o.canonical.empty() && !starts_with(o.canonical, "vae.") && !starts_with(o.canonical, "unet.time_embed.") &&
                          !starts_with(o.canonical, "unet.label_emb.") && !o.transpose &&
                          is_matmul_weight(o.canonical, o.spec.shape, target) && o.spec.shape.back() % dtype_block_size(target) == 0;
    o.spec.dtype = quantize ? target : base;
  }
  // The converter writes tensors sorted by name.
  std::sort(items.begin(), items.end(), [](const OutTensor& a, const OutTensor& b) { return a.spec.name < b.spec.name; });
  std::vector<GgufTensorSpec> specs;
  for (const auto& it : items) specs.push_back(it.spec);

  // The source's own tokenizer travels with the weights (io/clip_vocab.h).
  GgufMetadata meta;
  meta.strings.emplace_back("modelspec.prediction_type", model->info.prediction);  // "epsilon" | "v"
  if (!model->vocab.empty()) {
    add_clip_vocab(model->vocab, &meta);
  } else if (!model->tokenizer_dir.empty()) {
    add_clip_vocab(read_clip_vocab_folder(model->tokenizer_dir), &meta);
  }
  write_gguf(
      out_path, specs, meta, [&](size_t i, uint8_t* dst) { fill_tensor(items[i], items[i].spec.dtype, dst); }, progress);
}

}  // namespace quant
}  // namespace sd
