import { readFile, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import { gunzipSync } from "node:zlib";
import { SdError } from "../errors.js";
import { BYTE_CHARS_IN_VOCAB_ORDER } from "./byte-encoder.js";

export const BOS_TOKEN = "<|startoftext|>";
export const EOS_TOKEN = "<|endoftext|>";
/** Number of merges CLIP uses from the BPE file (49152 - 256 - 2 vocabulary slots). */
const N_MERGES = 49152 - 256 - 2;
export const GZ_NAME = "bpe_simple_vocab_16e6.txt.gz";

/** The two tables BPE needs: token string -> id, and merge pair "a b" -> rank (lower merges first). */
export interface Vocabulary {
  readonly encoder: ReadonlyMap<string, number>;
  readonly ranks: ReadonlyMap<string, number>;
}

function formatError(path: string, why: string): SdError {
  return new SdError("ERR_MODEL_FORMAT", `Tokenizer vocabulary ${path}: ${why}`);
}

/** Merge lines "a b" (header and blank lines already removed) -> rank map. */
function rankMerges(lines: string[], path: string): Map<string, number> {
  const ranks = new Map<string, number>();
  for (const line of lines) {
    const parts = line.split(" ");
    if (parts.length !== 2 || !parts[0] || !parts[1]) throw formatError(path, `bad merge line "${line}"`);
    if (!ranks.has(line)) ranks.set(line, ranks.size);
  }
  return ranks;
}

/** OpenAI's gz file: a header line, then merges; the vocabulary is derived from them. */
export function vocabularyFromBpeText(text: string, path: string): Vocabulary {
  const lines = text.split("\n").slice(1, N_MERGES + 1);
  if (lines.length !== N_MERGES) throw formatError(path, `expected ${N_MERGES} merges, found ${lines.length}`);
  const ranks = rankMerges(lines, path);
  const tokens: string[] = [...BYTE_CHARS_IN_VOCAB_ORDER];
  for (const c of BYTE_CHARS_IN_VOCAB_ORDER) tokens.push(`${c}</w>`);
  for (const line of lines) tokens.push(line.replace(" ", ""));
  tokens.push(BOS_TOKEN, EOS_TOKEN);
  const encoder = new Map<string, number>();
  tokens.forEach((t, i) => {
    encoder.set(t, i);
  });
  return { encoder, ranks };
}

/** Hugging Face layout: vocab.json (token -> id) plus merges.txt ("#version" header, then merges). */
export function vocabularyFromJson(vocabJson: string, mergesText: string, path: string): Vocabulary {
  let parsed: unknown;
  try {
    parsed = JSON.parse(vocabJson);
  } catch (e) {
    throw formatError(path, `vocab.json is not valid JSON (${(e as Error).message})`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw formatError(path, "vocab.json must be an object of token -> id");
  }
  const encoder = new Map<string, number>();
  for (const [token, id] of Object.entries(parsed)) {
    if (!Number.isInteger(id) || (id as number) < 0) throw formatError(path, `token "${token}" has a bad id`);
    encoder.set(token, id as number);
  }
  for (const special of [BOS_TOKEN, EOS_TOKEN]) {
    if (!encoder.has(special)) throw formatError(path, `vocab.json lacks ${special}`);
  }
  const lines = mergesText
    .split("\n")
    .map((l) => l.replace(/\r$/, ""))
    .filter((l, i) => !(i === 0 && l.startsWith("#version")) && l.length > 0)
    .slice(0, N_MERGES);
  return { encoder, ranks: rankMerges(lines, path) };
}

/** A vocabulary carried inside a checkpoint (GGUF tokenizer.ggml.tokens / merges): tokens by id, merges by rank. */
export function vocabularyFromTokens(tokens: readonly string[], merges: readonly string[], path: string): Vocabulary {
  const encoder = new Map<string, number>();
  tokens.forEach((t, i) => {
    if (!encoder.has(t)) encoder.set(t, i);
  });
  for (const special of [BOS_TOKEN, EOS_TOKEN]) {
    if (!encoder.has(special)) throw formatError(path, `the embedded vocabulary lacks ${special}`);
  }
  return { encoder, ranks: rankMerges(merges.slice(0, N_MERGES), path) };
}

async function isFile(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isFile();
  } catch {
    return false;
  }
}

async function readVocabFile(p: string): Promise<Buffer> {
  try {
    return await readFile(p);
  } catch (e) {
    throw new SdError("ERR_TOKENIZER_NOT_FOUND", `Cannot read tokenizer vocabulary ${p}: ${(e as Error).message}`, {
      cause: e,
    });
  }
}

async function loadGz(p: string): Promise<Vocabulary> {
  let text: string;
  try {
    text = gunzipSync(await readVocabFile(p)).toString("utf8");
  } catch (e) {
    if (e instanceof SdError) throw e;
    throw formatError(p, `not a valid gzip file (${(e as Error).message})`);
  }
  return vocabularyFromBpeText(text, p);
}

async function loadJson(vocabPath: string): Promise<Vocabulary> {
  const mergesPath = join(dirname(vocabPath), "merges.txt");
  const [vocab, merges] = await Promise.all([readVocabFile(vocabPath), readVocabFile(mergesPath)]);
  return vocabularyFromJson(vocab.toString("utf8"), merges.toString("utf8"), vocabPath);
}

/**
 * Loads a vocabulary from OpenAI's .txt.gz, a vocab.json (merges.txt beside it), or a folder holding
 * either (the .gz is preferred when both are present).
 */
export async function loadVocabulary(path: string): Promise<Vocabulary> {
  let info: Awaited<ReturnType<typeof stat>>;
  try {
    info = await stat(path);
  } catch {
    throw new SdError("ERR_TOKENIZER_NOT_FOUND", `Tokenizer vocabulary not found: ${path}`);
  }
  if (info.isDirectory()) {
    if (await isFile(join(path, GZ_NAME))) return loadGz(join(path, GZ_NAME));
    if (await isFile(join(path, "vocab.json"))) return loadJson(join(path, "vocab.json"));
    throw new SdError("ERR_TOKENIZER_NOT_FOUND", `Folder ${path} holds neither ${GZ_NAME} nor vocab.json + merges.txt`);
  }
  if (path.endsWith(".gz")) return loadGz(path);
  if (path.endsWith(".json")) return loadJson(path);
  throw formatError(path, `expected ${GZ_NAME}, a vocab.json or a folder holding one of them`);
}
