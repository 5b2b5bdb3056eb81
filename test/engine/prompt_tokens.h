// One 77-token prompt chunk from a reference's token ids (the reference
// tokenizer's output, I32 or I64), every weight 1: for pipeline tests that
// start from the reference's prompt instead of running the JS tokenizer.
#pragma once
#include <cstdint>

#include "pipeline/pipeline.h"
#include "tensor/tensor.h"

namespace sdtest {

inline sd::PromptTokens tokens_of(const sd::Tensor& ids) {  // ids: [77] (or [1, 77])
  sd::PromptTokens p;
  sd::TokenChunk c;
  for (int i = 0; i < sd::kTokensPerChunk; ++i) {
    c.ids[size_t(i)] = ids.dtype() == sd::DType::I64 ? int32_t(ids.data_as<int64_t>()[i]) : ids.data_as<int32_t>()[i];
    c.weights[size_t(i)] = 1.0f;
  }
  p.chunks.push_back(c);
  return p;
}

}  // namespace sdtest
