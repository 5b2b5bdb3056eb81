import { parseAttention } from "./attention.js";
import { buildChunks, type ChunkOptions, type ChunkTokenizer, emptyChunk, type PromptChunk } from "./chunks.js";
import { extractLoras, type LoraTag } from "./lora.js";

export { type PromptPart, parseAttention } from "./attention.js";
export {
  buildChunks,
  CHUNK_LENGTH,
  CHUNK_TOKENS,
  type ChunkOptions,
  type ChunkTokenizer,
  emptyChunk,
  PAD_OPENCLIP,
  PAD_SD1,
  type PromptChunk,
} from "./chunks.js";
export { extractLoras, type LoraTag } from "./lora.js";

/** What the text encoder receives for one prompt, and the LoRAs the prompt asked for. */
export interface EncodedPrompt {
  chunks: PromptChunk[];
  loras: LoraTag[];
}

/** Prompt -> LoRA tags removed -> attention parsed -> 77-token chunks. Never throws on any string. */
export function encodePrompt(prompt: string, tok: ChunkTokenizer, options: ChunkOptions): EncodedPrompt {
  const { text, loras } = extractLoras(prompt);
  return { chunks: buildChunks(parseAttention(text), tok, options), loras };
}

/** Appends empty-prompt chunks until `encoded` has `count` chunks (how a shorter negative prompt is matched). */
export function padToChunkCount(
  encoded: EncodedPrompt,
  count: number,
  tok: ChunkTokenizer,
  padId: number,
): EncodedPrompt {
  const chunks = [...encoded.chunks];
  while (chunks.length < count) chunks.push(emptyChunk(tok, padId));
  return { chunks, loras: encoded.loras };
}

/** Encodes a prompt and its negative prompt with the same number of chunks (the longer one's). */
export function encodePromptPair(
  prompt: string,
  negativePrompt: string,
  tok: ChunkTokenizer,
  options: ChunkOptions,
): { positive: EncodedPrompt; negative: EncodedPrompt } {
  const positive = encodePrompt(prompt, tok, options);
  const negative = encodePrompt(negativePrompt, tok, options);
  const count = Math.max(positive.chunks.length, negative.chunks.length);
  return {
    positive: padToChunkCount(positive, count, tok, options.padId),
    negative: padToChunkCount(negative, count, tok, options.padId),
  };
}
