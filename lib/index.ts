export { type ConvertOptions, convertModel } from "./convert.js";
export type { EmbeddingSpec } from "./embeddings.js";
export { AbortError, type ErrorCode, SdError } from "./errors.js";
export type { GenerateResult, GenerateTimings } from "./generate.js";
export { Image } from "./image.js";
export { LOG_LEVELS, type Logger, type LogLevel } from "./log.js";
export type { LoraSpec } from "./lora.js";
export {
  type ComponentInfo,
  type GenerateDone,
  type LoadOptions,
  loadModel,
  Model,
  type ModelFamily,
  type ModelFormat,
  type ModelInfo,
} from "./model.js";
export {
  DECODERS,
  DEFAULTS,
  type Decoder,
  defaultSize,
  type GenerateOptions,
  type GenerateParams,
  type ImageInput,
  MAX_SIZE,
  MIN_SIZE,
  type ModelTraits,
  PRECISIONS,
  type Precision,
  type RawImage,
  type ResolvedParams,
  RNGS,
  type Rng,
  resolveParams,
  SAMPLERS,
  type Sampler,
  SCHEDULERS,
  type Scheduler,
  type VaeTileSize,
  type VaeTiling,
} from "./options.js";
export { readPngText } from "./png-text.js";
export type { ProgressEvent, Stage } from "./progress.js";
export {
  type ChunkOptions,
  type EncodedPrompt,
  encodePrompt,
  encodePromptPair,
  type LoraTag,
  PAD_OPENCLIP,
  PAD_SD1,
  type PromptChunk,
  padToChunkCount,
  parseAttention,
} from "./prompt/index.js";
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
export { WEIGHT_TYPES, type WeightType } from "./weight-types.js";
