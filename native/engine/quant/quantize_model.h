// On-load weight conversion (LoadOptions::weight_type) and the load-time
// normalisation of block-quantized files.
//
// The rule. A "matmul weight" is a tensor named *.weight of rank 2 (Linear)
// or rank 4 (Conv2d) whose rows (in_features, or in_channels*kh*kw) are whole
// blocks of the target format, excluding the text encoders' token and
// position embeddings (looked up, not multiplied). weight_type converts the
// matmul weights of the U-Net and the text encoders; norms, biases,
// embeddings and the whole VAE keep their stored precision. A per-component
// entry ("unet", "te" for te1/te2, "vae") replaces the type for that
// component; "" leaves the component as stored.
//
// Independently of any option, a quantized tensor that is not a matmul weight
// (GGUF converters also quantize norm weights) is dequantized to f32, since
// only the matmul kernels take block formats.
//
// Converted tensors are written to an unlinked temporary file and mapped
// (quant/spill_file.h), so they are released between stages like a mapped
// checkpoint's weights; without a disk-backed temp directory they stay on
// the heap.
#pragma once
#include <map>
#include <string>

#include "io/model_loader.h"

namespace sd {
namespace quant {

struct WeightTypePlan {
  std::string all;                               // "" | "f32" | "f16" | "bf16" | "q8_0" | ... ("" = as stored)
  std::map<std::string, std::string> component;  // "unet" | "te" | "vae" -> type ("" = as stored)
};

// True when `name` (canonical, e.g. "unet.out.2.weight") with shape `shape`
// may be stored as `t` under the rule above.
bool is_matmul_weight(const std::string& name, const Shape& shape, DType t);

// Applies the plan and the normalisation to model->weights and updates
// model->info's per-component dtypes. Throws ERR_INVALID_OPTION for an
// unknown type or component name.
void apply_weight_types(LoadedModel* model, const WeightTypePlan& plan);

}  // namespace quant
}  // namespace sd
