// Reads a LoRA file (kohya / A1111 or diffusers / peft layout) into its
// low-rank modules, keyed by the module name the file uses. Which model
// weight each module modifies is decided later (lora_targets.h).
//
//   kohya:  <name>.lora_down.weight [r, in(, kh, kw)], <name>.lora_up.weight
//           [out, r(, 1, 1)], optional <name>.alpha (scalar; absent: alpha = r)
//   peft:   <component>.<module>.lora_A.weight (= down), .lora_B.weight (= up);
//           alpha per component in __metadata__["lora_adapter_metadata"]
//           ("<component>.lora_alpha", per-module "<component>.alpha_pattern"),
//           absent: alpha = r. The diffusers training scripts' spellings
//           .lora.down/.lora.up, .lora_linear_layer.down/up and
//           .processor.to_q_lora.down (= .to_q) are the same pairs.
//   LoHa:   <name>.hada_w1_a [out, r], .hada_w1_b [r, in*kh*kw], .hada_w2_a,
//           .hada_w2_b, .alpha: (w1_a w1_b) * (w2_a w2_b) element-wise, scaled
//           by alpha / r; read as one low-rank pair of rank r^2.
//   LoKr:   <name>.lokr_w1 [a, b] (or .lokr_w1_a/_b), .lokr_w2 [c, d(, kh, kw)]
//           (or .lokr_w2_a/_b), .alpha: kron(w1, w2), scaled by alpha / r when a
//           factor is a pair (r: its rank, w2's if both), else by 1; read as
//           one low-rank pair of rank b * r when w2 is a pair, else as the
//           dense difference (LoraModule::dense).
// The Tucker forms (hada_t1, lokr_t2, lora_mid) are refused by name.
#pragma once
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace sd {

struct LoraModule {
  std::string name;        // module name as in the file, e.g. lora_unet_mid_block_..._to_q or unet.mid_block....to_q
  Tensor down;             // [r, in] or [r, in, kh, kw] (LoCon)
  Tensor up;               // [out, r] or [out, r, 1, 1]
  Tensor dense;            // instead of up/down: the whole difference [out, in*kh*kw] (f32; LoKr with a whole w2)
  float alpha = 0;         // effective alpha (multiplier = scale * alpha / scale_rank)
  int64_t scale_rank = 0;  // the r of alpha / r: rank() for LoRA, a factor's rank for LoHa
  int64_t rank() const { return dense.data() ? 0 : down.size(0); }
};

struct LoraFile {
  std::string path;
  std::vector<LoraModule> modules;
  std::vector<std::string> unknown_keys;  // tensors of no known LoRA role (warned about, not applied)
};

// Throws ERR_LORA_FORMAT when no tensor has a LoRA role or a down/up pair is
// incomplete or inconsistent; reader errors (ERR_MODEL_FORMAT, ERR_IO,
// ERR_MODEL_NOT_FOUND) pass through.
LoraFile read_lora_file(const std::string& path);

}  // namespace sd
