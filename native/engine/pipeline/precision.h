// Which precision a generate() call runs at. Precision::Fast is meant for
// bf16 GEMMs on CPUs with AVX-512 BF16; no such kernel exists yet, so every
// call runs the exact fp32 path and a Fast request says so in a warning.
#pragma once
#include <string>
#include <vector>

#include "pipeline/pipeline.h"

namespace sd {

// The precision that will run for `requested`; appends a warning to
// `warnings` when Fast falls back to Default.
Precision resolve_precision(Precision requested, std::vector<std::string>* warnings);

}  // namespace sd
