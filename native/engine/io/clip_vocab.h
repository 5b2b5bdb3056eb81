// The CLIP BPE vocabulary carried inside a GGUF file, so a converted model
// needs no separate tokenizer files. GGUF metadata keys (llama.cpp's
// tokenizer.ggml.* convention, with our model name):
//   tokenizer.ggml.model  = "clip"
//   tokenizer.ggml.tokens = [token string of id 0, id 1, ...]
//   tokenizer.ggml.merges = ["a b", ...] in rank order (merges.txt without its #version line)
// `convert` writes it when the source model has its own tokenizer (a
// diffusers tokenizer/ folder, or a GGUF that carries one); the loader reads
// it back and the JS tokenizer (lib/tokenizer) builds from it.
#pragma once
#include <string>
#include <vector>

#include "io/gguf_writer.h"
#include "io/tensor_file.h"

namespace sd {

struct ClipVocab {
  std::vector<std::string> tokens;  // by id
  std::vector<std::string> merges;  // "a b", lowest rank first
  bool empty() const { return tokens.empty(); }
};

// From a diffusers tokenizer/ folder: vocab.json (token -> id, ids 0..n-1
// each once) and merges.txt. Throws ERR_MODEL_FORMAT / ERR_IO.
ClipVocab read_clip_vocab_folder(const std::string& dir);

// From a GGUF file's metadata; empty when it carries no "clip" vocabulary.
// Throws ERR_MODEL_FORMAT when tokenizer.ggml.model is "clip" but the
// arrays are missing or malformed.
ClipVocab clip_vocab_from_gguf(const TensorFile& file);

// Adds the three entries to the metadata of a GGUF being written.
void add_clip_vocab(const ClipVocab& vocab, GgufMetadata* meta);

}  // namespace sd
