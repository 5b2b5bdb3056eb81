import { stat } from "node:fs/promises";
import { join } from "node:path";
import { SdError } from "../errors.js";
import { cacheDir } from "./cache-dir.js";
import { downloadVerified, hasVerifiedFile } from "./download.js";
import { loadTokenizer, type Tokenizer } from "./tokenizer.js";
import { GZ_NAME } from "./vocab.js";

export const VOCAB_SHA256 = "924691ac288e54409236115652ad4aa250f48203de50a9e4722a6ecd48d6804a";
export const DEFAULT_TOKENIZER_URL = `https://raw.githubusercontent.com/openai/CLIP/main/clip/${GZ_NAME}`;

export interface TokenizerSourceOptions {
  /** The model path given to loadModel; its `tokenizer/` folder wins when present. */
  modelPath?: string;
  /** The `tokenizer` load option. */
  tokenizer?: string;
  /** Where to download the vocabulary from: the file's URL or a base URL it is appended to. */
  downloadUrl?: string;
  /** Environment to read SD_NATIVE_* variables from (default process.env). */
  env?: NodeJS.ProcessEnv;
}

/** Which source was used, for messages and tests. */
export interface ResolvedTokenizerPath {
  path: string;
  source: "model" | "option" | "env" | "cache" | "download";
}

async function isDirectory(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isDirectory();
  } catch {
    return false;
  }
}

function downloadUrlFor(base: string): string {
  return base.endsWith(".gz") ? base : `${base.replace(/\/+$/, "")}/${GZ_NAME}`;
}

function notFound(cachedFile: string, why: string, cause: unknown): SdError {
  return new SdError(
    "ERR_TOKENIZER_NOT_FOUND",
    `No CLIP tokenizer vocabulary available (${why}). Fix it in one of three ways: ` +
      `pass the \`tokenizer\` load option (--tokenizer on the command line) with the path of ${GZ_NAME} (or a vocab.json + merges.txt, or a folder); ` +
      `set the SD_NATIVE_TOKENIZER environment variable to such a path; ` +
      `or place ${GZ_NAME} at ${cachedFile} (downloaded there automatically when the network is reachable; ` +
      `SD_NATIVE_TOKENIZER_URL changes the source).`,
    { cause },
  );
}

/**
 * Finds the CLIP vocabulary for a model, in order: the model's own `tokenizer/` folder, the `tokenizer`
 * option, SD_NATIVE_TOKENIZER, the cache directory (downloaded into it on first use, sha256-verified).
 */
export async function resolveTokenizerPath(options: TokenizerSourceOptions = {}): Promise<ResolvedTokenizerPath> {
  const env = options.env ?? process.env;
  if (options.modelPath && (await isDirectory(join(options.modelPath, "tokenizer")))) {
    return { path: join(options.modelPath, "tokenizer"), source: "model" };
  }
  if (options.tokenizer) return { path: options.tokenizer, source: "option" };
  if (env.SD_NATIVE_TOKENIZER) return { path: env.SD_NATIVE_TOKENIZER, source: "env" };
  const cached = join(cacheDir(env), GZ_NAME);
  if (await hasVerifiedFile(cached, VOCAB_SHA256)) return { path: cached, source: "cache" };
  const url = downloadUrlFor(options.downloadUrl ?? env.SD_NATIVE_TOKENIZER_URL ?? DEFAULT_TOKENIZER_URL);
  try {
    await downloadVerified(url, cached, VOCAB_SHA256);
  } catch (e) {
    // fetch() hides the socket error (ECONNREFUSED, "other side closed") in `cause`.
    const cause = (e as { cause?: { message?: string } }).cause?.message;
    throw notFound(cached, `download failed: ${(e as Error).message}${cause ? ` (${cause})` : ""}`, e);
  }
  return { path: cached, source: "download" };
}

// Loading parses ~49k merges (~150 ms); models sharing a vocabulary (SDXL's two encoders) share one Tokenizer.
const loaded = new Map<string, Promise<Tokenizer>>();

const SOURCE_NAMES: Readonly<Record<ResolvedTokenizerPath["source"], string>> = {
  model: "the model's tokenizer/ folder",
  option: "the `tokenizer` load option",
  env: "the SD_NATIVE_TOKENIZER environment variable",
  cache: "the cache",
  download: "the download",
};

/** resolveTokenizerPath + loadTokenizer, reusing an already loaded vocabulary. */
export async function resolveTokenizer(options: TokenizerSourceOptions = {}): Promise<Tokenizer> {
  const { path, source } = await resolveTokenizerPath(options);
  let pending = loaded.get(path);
  if (!pending) {
    pending = loadTokenizer(path).catch((e: unknown) => {
      loaded.delete(path);
      // Say where the bad path came from, so the user knows which setting to fix.
      if (!(e instanceof SdError)) throw e;
      throw new SdError(e.code, `${e.message} (from ${SOURCE_NAMES[source]})`, { cause: e });
    });
    loaded.set(path, pending);
  }
  return pending;
}
