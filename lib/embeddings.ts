// Textual-inversion embeddings for one generate() call: the `embeddings`
// option and the files of loadModel's `embeddingDir` whose token (file name
// without extension) appears in the prompt as a whole word. Each placeholder
// token expands to its vectors: the tokenizer gives them the ids after the
// CLIP vocabulary (49408, 49409, ...), and the same vectors go to the native
// encoder as the rows for those ids (native/engine/lora/embedding_file.h).
import { readdir } from "node:fs/promises";
import { basename, extname, join } from "node:path";
import { invalidOption } from "./errors.js";
import type { ChunkTokenizer } from "./prompt/index.js";

/** An embedding file for one call; `token` defaults to the token the file names, else its file name. */
export interface EmbeddingSpec {
  path: string;
  token?: string;
}

/** What the addon reads from an embedding file (NativeModel.readEmbedding). */
export interface NativeEmbedding {
  token: string;
  te1?: Float32Array;
  te2?: Float32Array;
  dim1?: number;
  dim2?: number;
  /** The model's text-encoder widths (te2: SDXL only). */
  modelDim1?: number;
  modelDim2?: number;
}

/**
 * Why `file` does not fit its model ("" when it does): it must have vectors
 * of the right width for every text encoder the model has, and none for one
 * it lacks (an SD 1.x embedding on SDXL, an SDXL one on SD 1.x, SD 1.x's
 * 768-wide vectors on SD 2.x's 1024-wide encoder).
 */
export function embeddingMismatch(file: NativeEmbedding): string {
  const describe = (dim: number | undefined) => (dim ? `${dim}-wide vectors` : "no vectors");
  for (const [dim, model, enc] of [
    [file.dim1, file.modelDim1, "first"],
    [file.dim2, file.modelDim2, "second"],
  ] as const) {
    if (dim !== model) {
      return `has ${describe(dim)} for the ${enc} text encoder, which ${model ? `takes ${model}` : "this model does not have"}`;
    }
  }
  return "";
}

/** Extra token rows for one encoder: ids VOCAB_SIZE + j embed row j. */
export interface ExtraTokens {
  dim: number;
  data: Float32Array;
}

export interface EmbeddingTable {
  /** Placeholder -> ids, per encoder (absent: the file has no vectors for that encoder). */
  te1: Map<string, number[]>;
  te2: Map<string, number[]>;
  extra1?: ExtraTokens;
  extra2?: ExtraTokens;
}

/** CLIP's vocabulary size (SD 1.x, 2.x and both SDXL encoders). */
export const VOCAB_SIZE = 49408;
export const EMBEDDING_EXTENSIONS = [".safetensors", ".bin", ".pt"] as const;

export function checkEmbeddings(value: unknown): EmbeddingSpec[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw invalidOption("embeddings", "must be an array of { path, token? }");
  return value.map((v: unknown, i) => {
    const s = v as EmbeddingSpec;
    if (typeof v !== "object" || v === null || typeof s.path !== "string" || s.path === "") {
      throw invalidOption(`embeddings[${i}]`, "must be { path: string, token?: string }");
    }
    if (s.token !== undefined && (typeof s.token !== "string" || s.token.trim() === "")) {
      throw invalidOption(`embeddings[${i}].token`, "must be a non-empty string");
    }
    return { path: s.path, token: s.token };
  });
}

/** The embedding files a call needs: the explicit ones, then embeddingDir files whose token the texts use. */
export async function embeddingFilesFor(
  explicit: readonly EmbeddingSpec[],
  embeddingDir: string | undefined,
  texts: readonly string[],
): Promise<EmbeddingSpec[]> {
  const out = [...explicit];
  if (embeddingDir === undefined) return out;
  const names = await readdir(embeddingDir).catch(() => {
    throw invalidOption("embeddingDir", `cannot read the folder ${embeddingDir}`);
  });
  for (const name of names.sort()) {
    const ext = extname(name).toLowerCase();
    if (!(EMBEDDING_EXTENSIONS as readonly string[]).includes(ext)) continue;
    const token = basename(name, extname(name));
    const re = placeholderPattern([token.toLowerCase()]);
    if (texts.some((t) => t.search(re) >= 0)) out.push({ path: join(embeddingDir, name), token });
  }
  return out;
}

/** Assigns ids to every placeholder and gathers the vectors, per encoder. */
export function buildEmbeddingTable(
  files: ReadonlyArray<{ spec: EmbeddingSpec; file: NativeEmbedding }>,
): EmbeddingTable {
  const table: EmbeddingTable = { te1: new Map(), te2: new Map() };
  const rows: Record<"te1" | "te2", { dim: number; parts: Float32Array[]; count: number }> = {
    te1: { dim: 0, parts: [], count: 0 },
    te2: { dim: 0, parts: [], count: 0 },
  };
  const seen = new Set<string>();
  for (const { spec, file } of files) {
    // Names match case-insensitively, as in the web UI (CLIP lowercases the text).
    const token = (spec.token ?? (file.token || basename(spec.path, extname(spec.path)))).toLowerCase();
    // The first file of a token wins (the `embeddings` option comes before embeddingDir).
    if (seen.has(token)) continue;
    seen.add(token);
    for (const enc of ["te1", "te2"] as const) {
      const data = file[enc];
      const dim = enc === "te1" ? file.dim1 : file.dim2;
      if (!data || !dim) continue;
      const r = rows[enc];
      if (r.dim !== 0 && r.dim !== dim) {
        throw invalidOption("embeddings", `${spec.path} has ${dim}-wide vectors, another embedding ${r.dim}`);
      }
      r.dim = dim;
      const n = data.length / dim;
      table[enc].set(
        token,
        Array.from({ length: n }, (_, j) => VOCAB_SIZE + r.count + j),
      );
      r.parts.push(data);
      r.count += n;
    }
  }
  for (const enc of ["te1", "te2"] as const) {
    const r = rows[enc];
    if (r.count === 0) continue;
    const data = new Float32Array(r.count * r.dim);
    let at = 0;
    for (const p of r.parts) {
      data.set(p, at);
      at += p.length;
    }
    if (enc === "te1") table.extra1 = { dim: r.dim, data };
    else table.extra2 = { dim: r.dim, data };
  }
  return table;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

const STARTS_WORD = /^[\p{L}\p{N}_]/u;
const ENDS_WORD = /[\p{L}\p{N}_]$/u;

/**
 * Matches any of `names` (lowercase) as a whole word, ignoring case, as A1111
 * matches an embedding name as whole tokens: "cat" fires in "a cat, sitting" but not inside "category"
 * or "bobcat". Only an edge of the name that is a word character needs a
 * non-word neighbour, so "<style>" still matches in "house<style>".
 */
function placeholderPattern(names: readonly string[]): RegExp {
  const alternatives = [...names]
    .sort((a, b) => b.length - a.length)
    .map((name) => {
      const before = STARTS_WORD.test(name) ? "(?<![\\p{L}\\p{N}_])" : "";
      const after = ENDS_WORD.test(name) ? "(?![\\p{L}\\p{N}_])" : "";
      return `${before}${escapeRegExp(name)}${after}`;
    });
  return new RegExp(alternatives.join("|"), "giu");
}

/**
 * `tok` with every placeholder of `placeholders` (matched as a whole word,
 * longest first) replaced by its ids; the text around it is tokenized as usual.
 */
export function withPlaceholders(tok: ChunkTokenizer, placeholders: ReadonlyMap<string, number[]>): ChunkTokenizer {
  if (placeholders.size === 0) return tok;
  const re = placeholderPattern([...placeholders.keys()]);
  return {
    bos: tok.bos,
    eos: tok.eos,
    encode(text: string): number[] {
      const ids: number[] = [];
      let last = 0;
      for (const m of text.matchAll(re)) {
        ids.push(
          ...tok.encode(text.slice(last, m.index)).slice(1, -1),
          ...(placeholders.get(m[0].toLowerCase()) ?? []),
        );
        last = m.index + m[0].length;
      }
      ids.push(...tok.encode(text.slice(last)).slice(1, -1));
      return [tok.bos, ...ids, tok.eos];
    },
  };
}
