#include "quant/convert_model.h"

#include <algorithm>
#include <vector>

#include "core/error.h"
#include "io/clip_vocab.h"
#include "io/gguf_writer.h"
#include "quant/blocks.h"
#include "quant/quantize_model.h"
#include "util/strings.h"

namespace sd {
namespace quant {

std::string ldm_name(const std::string& canonical) {
  const std::pair<const char*, const char*> prefixes[] = {
      {"unet.", "model.diffusion_model."}, {"vae.", "first_stage_model."}, {"te1.", "cond_stage_model.transformer."}};
  for (const auto& [from, to] : prefixes)
    if (starts_with(canonical, from)) return to + canonical.substr(std::string(from).size());
  fail(ErrorCode::ModelUnsupported, "convert: no single-file name for weight \"" + canonical + "\"");
}

void convert_to_gguf(const std::string& src, const std::string& out_path, const std::string& type,
                     const std::function<void(size_t, size_t)>& progress) {
  DType target;
  if (!dtype_from_name(type, &target) || !(dtype_is_float(target) ? target != DType::F64 : is_block_format(target)))
    fail(ErrorCode::InvalidOption,
         "convert: type \"" + type + "\" is not one of f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, q2_K, q3_K, q4_K, q5_K, q6_K");
  auto model = load_model(src, {});
  if (model->info.family != "sd1")
    fail(ErrorCode::ModelUnsupported, "convert: " + model->info.family + " checkpoints are not supported yet (SD 1.x only)");
  const DType base = (target == DType::F32 || target == DType::BF16) ? target : DType::F16;

  struct Item {
    GgufTensorSpec spec;
    const Tensor* src;
  };
  std::vector<Item> items;
  for (const auto& [name, t] : model->weights.all()) {
    const bool vae = starts_with(name, "vae.");
    // The converter also keeps the U-Net's time embedding in float.
    const bool quantize = !vae && name.rfind("unet.time_embed.", 0) != 0 && is_matmul_weight(name, t.shape(), target) &&
                          t.shape().back() % dtype_block_size(target) == 0;
    items.push_back({{ldm_name(name), quantize ? target : base, t.shape()}, &t});
  }
  // The converter writes tensors sorted by name.
  std::sort(items.begin(), items.end(), [](const Item& a, const Item& b) { return a.spec.name < b.spec.name; });
  std::vector<GgufTensorSpec> specs;
  for (const auto& it : items) specs.push_back(it.spec);

  // The source's own tokenizer travels with the weights (io/clip_vocab.h).
  GgufMetadata meta;
  if (!model->vocab.empty()) {
    add_clip_vocab(model->vocab, &meta);
  } else if (!model->tokenizer_dir.empty()) {
    add_clip_vocab(read_clip_vocab_folder(model->tokenizer_dir), &meta);
  }
  write_gguf(
      out_path, specs, meta,
      [&](size_t i, uint8_t* dst) {
        const Tensor& t = *items[i].src;
        const DType out = items[i].spec.dtype;
        const int64_t cols = t.shape().back(), rows = t.numel() / cols;
        const int64_t in_bytes = dtype_bytes_for(t.dtype(), cols), out_bytes = dtype_bytes_for(out, cols);
        std::vector<float> row(static_cast<size_t>(cols));
        for (int64_t r = 0; r < rows; ++r)
          convert_row(t.dtype(), static_cast<const uint8_t*>(t.data()) + r * in_bytes, out, cols, dst + r * out_bytes, row.data());
      },
      progress);
}

}  // namespace quant
}  // namespace sd
