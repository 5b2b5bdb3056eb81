// LoRA requests of one generate() call: the `loras` option and the prompt's
// `<lora:name:scale>` tags, resolved to files. The native engine merges them
// into the weights for that call only (native/engine/lora).
import { stat } from "node:fs/promises";
import { isAbsolute, relative, resolve } from "node:path";
import { invalidOption, SdError } from "./errors.js";
import { extractLoras } from "./prompt/index.js";

/** A LoRA file for one call. `scale` (default 1) may be negative. */
export interface LoraSpec {
  path: string;
  scale?: number;
}

export interface ResolvedLora {
  path: string;
  scale: number;
}

/** File extensions tried, in order, for `<lora:name>` in loadModel's `loraDir`. */
export const LORA_EXTENSIONS = [".safetensors", ".ckpt", ".pt", ".bin"] as const;

const MAX_LORAS = 64;

/** Validates the `loras` option (pure; files are checked by the engine). */
export function checkLoras(value: unknown): ResolvedLora[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw invalidOption("loras", "must be an array of { path, scale? }");
  if (value.length > MAX_LORAS) throw invalidOption("loras", `at most ${MAX_LORAS} LoRAs per call`);
  return value.map((v: unknown, i) => {
    const spec = v as LoraSpec;
    if (typeof v !== "object" || v === null || typeof spec.path !== "string" || spec.path === "") {
      throw invalidOption(`loras[${i}]`, "must be { path: string, scale?: number }");
    }
    const scale = spec.scale ?? 1;
    if (typeof scale !== "number" || !Number.isFinite(scale)) {
      throw invalidOption(`loras[${i}].scale`, `must be a finite number, got ${String(spec.scale)}`);
    }
    return { path: spec.path, scale };
  });
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/**
 * The files of the prompt's `<lora:name:scale>` tags: `name` (may contain
 * sub-folders) plus one of LORA_EXTENSIONS inside `loraDir`.
 * ERR_INVALID_OPTION without loraDir or for a name outside it; ERR_MODEL_NOT_FOUND for a missing file.
 */
export async function resolvePromptLoras(prompt: string, loraDir: string | undefined): Promise<ResolvedLora[]> {
  const tags = extractLoras(prompt).loras;
  const out: ResolvedLora[] = [];
  for (const tag of tags) {
    if (loraDir === undefined) {
      throw invalidOption("prompt", `<lora:${tag.name}> needs a LoRA folder: loadModel(path, { loraDir })`);
    }
    const base = resolve(loraDir);
    const stem = resolve(base, tag.name);
    const rel = relative(base, stem);
    if (rel === "" || rel.startsWith("..") || isAbsolute(rel)) {
      throw invalidOption("prompt", `<lora:${tag.name}> names a file outside loraDir`);
    }
    const candidates = LORA_EXTENSIONS.some((e) => tag.name.toLowerCase().endsWith(e))
      ? [stem]
      : LORA_EXTENSIONS.map((e) => stem + e);
    let found: string | undefined;
    for (const c of candidates) {
      if (await isFile(c)) {
        found = c;
        break;
      }
    }
    if (!found) {
      throw new SdError(
        "ERR_MODEL_NOT_FOUND",
        `LoRA "${tag.name}" not found in ${loraDir} (looked for ${candidates.map((c) => relative(base, c)).join(", ")})`,
      );
    }
    out.push({ path: found, scale: tag.scale });
  }
  return out;
}

/** Resolves a loadModel folder option (loraDir, embeddingDir) to an absolute path. */
export function checkDirOption(name: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "string" || value === "") throw invalidOption(name, "must be a path to a folder");
  return resolve(value);
}
