export { AbortError, type ErrorCode, SdError } from "./errors.js";
export {
  type ComponentInfo,
  type LoadOptions,
  loadModel,
  Model,
  type ModelFamily,
  type ModelFormat,
  type ModelInfo,
} from "./model.js";
export {
  cacheDir,
  cleanText,
  loadTokenizer,
  type ResolvedTokenizerPath,
  resolveTokenizer,
  resolveTokenizerPath,
  Tokenizer,
  type TokenizerSourceOptions,
} from "./tokenizer/index.js";
