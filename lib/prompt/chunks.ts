import type { PromptPart } from "./attention.js";

/** Tokens per chunk between BOS and EOS (CLIP's context is 77). */
export const CHUNK_TOKENS = 75;
export const CHUNK_LENGTH = CHUNK_TOKENS + 2;
/** Padding after EOS: SD 1.x pads with EOS itself; SD 2.x and SDXL's second encoder (OpenCLIP) pad with 0. */
export const PAD_SD1 = 49407;
export const PAD_OPENCLIP = 0;

/** One encoder input: ids[77] = BOS, tokens, EOS, padding; weights[77] = each token's emphasis (1 elsewhere). */
export interface PromptChunk {
  ids: number[];
  weights: number[];
}

/** The part of a tokenizer chunking needs. */
export interface ChunkTokenizer {
  readonly bos: number;
  readonly eos: number;
  encode(text: string): number[];
}

export interface ChunkOptions {
  /** Id after EOS: PAD_SD1 (49407) or PAD_OPENCLIP (0). */
  padId: number;
  /**
   * A1111's "comma padding backtrack": when a chunk fills up and a comma is among its last N tokens,
   * the tokens after that comma move to the next chunk. 0 (default) splits at exactly 75 tokens.
   */
  commaBacktrack?: number;
}

function finishChunk(tokens: number[], weights: number[], tok: ChunkTokenizer, padId: number): PromptChunk {
  const pad = CHUNK_LENGTH - 2 - tokens.length;
  return {
    ids: [tok.bos, ...tokens, tok.eos, ...new Array<number>(pad).fill(padId)],
    weights: [1, ...weights, 1, ...new Array<number>(pad).fill(1)],
  };
}

/** The chunk of an empty prompt, used to pad a prompt to a given number of chunks. */
export function emptyChunk(tok: ChunkTokenizer, padId: number): PromptChunk {
  return finishChunk([], [], tok, padId);
}

/**
 * Tokenizes weighted parts into 77-token chunks, as A1111 does: each part is tokenized on its own,
 * BREAK closes the current chunk (even an empty one), a chunk closes when it holds 75 tokens, and a
 * prompt with no tokens still gives one (empty) chunk.
 */
export function buildChunks(parts: readonly PromptPart[], tok: ChunkTokenizer, options: ChunkOptions): PromptChunk[] {
  const { padId, commaBacktrack = 0 } = options;
  const comma = tok.encode(",")[1];
  const chunks: PromptChunk[] = [];
  let tokens: number[] = [];
  let weights: number[] = [];
  let lastComma = -1;
  const close = (): void => {
    chunks.push(finishChunk(tokens, weights, tok, padId));
    tokens = [];
    weights = [];
    lastComma = -1;
  };
  for (const part of parts) {
    if (part.kind === "break") {
      close();
      continue;
    }
    for (const id of tok.encode(part.text).slice(1, -1)) {
      if (id === comma) {
        lastComma = tokens.length;
      } else if (
        commaBacktrack > 0 &&
        tokens.length === CHUNK_TOKENS &&
        lastComma >= 0 &&
        tokens.length - lastComma <= commaBacktrack
      ) {
        const movedTokens = tokens.splice(lastComma + 1);
        const movedWeights = weights.splice(lastComma + 1);
        close();
        tokens = movedTokens;
        weights = movedWeights;
      }
      if (tokens.length === CHUNK_TOKENS) close();
      tokens.push(id);
      weights.push(part.weight);
    }
  }
  if (tokens.length > 0 || chunks.length === 0) close();
  return chunks;
}
