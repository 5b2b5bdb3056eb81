#include "io/clip_vocab.h"

#include <sstream>

#include "core/error.h"
#include "io/diffusers.h"
#include "io/json.h"

namespace sd {
namespace {

constexpr const char* kModelKey = "tokenizer.ggml.model";
constexpr const char* kTokensKey = "tokenizer.ggml.tokens";
constexpr const char* kMergesKey = "tokenizer.ggml.merges";
constexpr size_t kMaxTokens = 1u << 20;  // CLIP has 49408

// What every CLIP vocabulary has; the JS tokenizer needs both.
void check_vocab(const ClipVocab& v, const std::string& where) {
  if (v.tokens.empty() || v.tokens.size() > kMaxTokens)
    fail(ErrorCode::ModelFormat, where + ": " + std::to_string(v.tokens.size()) + " tokens is not a CLIP vocabulary");
  bool bos = false, eos = false;
  for (const auto& t : v.tokens) {
    bos = bos || t == "<|startoftext|>";
    eos = eos || t == "<|endoftext|>";
  }
  if (!bos || !eos) fail(ErrorCode::ModelFormat, where + ": the vocabulary lacks <|startoftext|> or <|endoftext|>");
  for (const auto& m : v.merges) {
    const size_t space = m.find(' ');
    if (space == 0 || space == std::string::npos || space + 1 == m.size() || m.find(' ', space + 1) != std::string::npos)
      fail(ErrorCode::ModelFormat, where + ": bad merge \"" + m + "\" (expected \"a b\")");
  }
}

}  // namespace

ClipVocab read_clip_vocab_folder(const std::string& dir) {
  const std::string vocab_path = dir + "/vocab.json", merges_path = dir + "/merges.txt";
  const Json vocab = Json::parse(read_json_object_file(vocab_path));
  ClipVocab v;
  v.tokens.resize(vocab.members().size());
  std::vector<bool> seen(v.tokens.size());
  for (const auto& [token, id] : vocab.members()) {
    int64_t i = -1;
    if (!id.as_int64(&i) || i < 0 || i >= int64_t(v.tokens.size()) || seen[size_t(i)])
      fail(ErrorCode::ModelFormat,
           vocab_path + ": ids must be 0.." + std::to_string(v.tokens.size() - 1) + ", each once (\"" + token + "\")");
    seen[size_t(i)] = true;
    v.tokens[size_t(i)] = token;
  }
  std::istringstream lines(read_small_text_file(merges_path));
  std::string line;
  for (bool first = true; std::getline(lines, line); first = false) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || (first && line.rfind("#version", 0) == 0)) continue;
    v.merges.push_back(line);
  }
  check_vocab(v, dir);
  return v;
}

ClipVocab clip_vocab_from_gguf(const TensorFile& file) {
  const auto model = file.metadata.find(kModelKey);
  if (model == file.metadata.end() || model->second != "clip") return {};
  const auto tokens = file.string_arrays.find(kTokensKey), merges = file.string_arrays.find(kMergesKey);
  if (tokens == file.string_arrays.end() || merges == file.string_arrays.end())
    fail(ErrorCode::ModelFormat, file.path + ": tokenizer.ggml.model is \"clip\" but the tokens or merges array is missing");
  ClipVocab v{tokens->second, merges->second};
  check_vocab(v, file.path);
  return v;
}

void add_clip_vocab(const ClipVocab& vocab, GgufMetadata* meta) {
  meta->strings.emplace_back(kModelKey, "clip");
  meta->string_arrays.emplace_back(kTokensKey, vocab.tokens);
  meta->string_arrays.emplace_back(kMergesKey, vocab.merges);
}

}  // namespace sd
