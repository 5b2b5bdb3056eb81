#include "pipeline/precision.h"

#include "kernels/gemm_bf16.h"
#include "tensor/cpu_features.h"

namespace sd {

Precision resolve_precision(Precision requested, std::vector<std::string>* warnings) {
  if (requested == Precision::Default) return Precision::Default;
  if (kern::gemm_bf16_available()) return Precision::Fast;
  const char* why = cpu_features().avx512bf16 ? "the avx512 kernel path is not selected (SD_NATIVE_CPU)" : "this CPU has no AVX-512 BF16";
  warnings->push_back(std::string("precision \"fast\": ") + why + "; ran the default fp32 path (same numbers as precision \"default\")");
  return Precision::Default;
}

}  // namespace sd
