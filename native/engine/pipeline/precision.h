// Which precision a generate() call runs at. Precision::Fast (Compute::bf16)
// runs the linears (attention projections, feed-forward, CLIP), the
// attention products (QK^T, PV) and the F(2x2) Winograd convolutions on the
// bf16 kernel (kernels/gemm_bf16.h) where the current CPU path has AVX-512
// BF16; elsewhere the call runs the exact fp32 path and says so in a warning.
#pragma once
#include <string>
#include <vector>

#include "pipeline/pipeline.h"

namespace sd {

// The precision that will run for `requested`; appends a warning to
// `warnings` when Fast falls back to Default.
Precision resolve_precision(Precision requested, std::vector<std::string>* warnings);

}  // namespace sd
