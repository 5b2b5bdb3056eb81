// Textual-inversion embeddings: the vectors a placeholder token stands for.
// Layouts: A1111 .safetensors ("emb_params" [n, D]), A1111 .pt (a torch zip
// pickle {"string_to_param": {"*": [n, D]}, "string_to_token": ..., "name": ...};
// the token is the file name), diffusers learned_embeds (one tensor named by
// its token, [D] or [n, D]; .safetensors or .bin), SDXL ("clip_l" [n, 768]
// for te1 and "clip_g" [n, 1280] for te2).
#pragma once
#include <string>

#include "io/model_loader.h"
#include "tensor/tensor.h"

namespace sd {

struct EmbeddingFile {
  std::string token;  // the token the file names (diffusers), else empty
  Tensor te1;         // [n, D1] f32
  Tensor te2;         // [n, D2] f32 (SDXL files), else empty
};

// Throws ERR_MODEL_NOT_FOUND, ERR_MODEL_FORMAT (no embedding layout), reader errors.
EmbeddingFile read_embedding_file(const std::string& path);

// `base` plus this call's extra token vectors ([n, D] f32 per encoder, ids
// V.. of that encoder), sharing every weight with it.
std::shared_ptr<const LoadedModel> with_extra_tokens(const LoadedModel& base, const Tensor& te1, const Tensor& te2);

}  // namespace sd
