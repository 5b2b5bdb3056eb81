// Which model weight a LoRA module modifies. LoRA files name modules after
// the diffusers module paths (kohya: "lora_unet_" / "lora_te_" / "lora_te1_" /
// "lora_te2_" + path with '.' -> '_'; peft: "unet." / "text_encoder." /
// "text_encoder_2." + path); some kohya files (SDXL, A1111-trained) use the
// original LDM paths instead. Because module names contain '_', the kohya
// form cannot be reversed: the table is built forward from the model's own
// canonical weights (LDM -> diffusers path, the inverse of name_map.h).
#pragma once
#include <string>
#include <unordered_map>

#include "io/model_loader.h"

namespace sd {

// LoRA module name (every accepted spelling) -> canonical weight name
// (e.g. "unet.middle_block.1.transformer_blocks.0.attn2.to_q.weight").
using LoraTargets = std::unordered_map<std::string, std::string>;

LoraTargets lora_targets(const LoadedModel& model);

// diffusers UNet module path of an LDM U-Net module path of `model`
// ("input_blocks.1.1.proj_in" -> "down_blocks.0.attentions.0.proj_in"); "" if none.
// Exposed for tests.
std::string unet_diffusers_path(const ModelWeights& weights, const std::string& ldm_module);

}  // namespace sd
