export { cacheDir } from "./cache-dir.js";
export {
  DEFAULT_TOKENIZER_URL,
  type ResolvedTokenizerPath,
  resolveTokenizer,
  resolveTokenizerPath,
  type TokenizerSourceOptions,
  VOCAB_SHA256,
} from "./resolve.js";
export { cleanText, loadTokenizer, Tokenizer } from "./tokenizer.js";
export { vocabularyFromTokens } from "./vocab.js";
