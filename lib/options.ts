// generate() options: their types, validation (before any native work) and the
// per-family defaults. Everything here is pure so it can be tested without a model.
import { checkEmbeddings, type EmbeddingSpec } from "./embeddings.js";
import { checkKnownKeys, invalidOption } from "./errors.js";
import { checkLoras, type LoraSpec, type ResolvedLora } from "./lora.js";
import type { ProgressEvent } from "./progress.js";

export const SAMPLERS = [
  "euler",
  "euler_a",
  "heun",
  "dpm2",
  "dpm++2m",
  "dpm++2s_a",
  "dpm++2m_sde",
  "lms",
  "ddim",
  "pndm",
  "lcm",
  "unipc",
  "ipndm",
  "tcd",
] as const;
export type Sampler = (typeof SAMPLERS)[number];

export const SCHEDULERS = ["discrete", "karras", "exponential", "sgm_uniform", "simple", "ays"] as const;
export type Scheduler = (typeof SCHEDULERS)[number];

/** "cpu": the numbers of PyTorch's CPU generator (same image as diffusers on CPU). PyTorch's CUDA (Philox) numbers are not implemented. */
export const RNGS = ["cpu"] as const;
export type Rng = (typeof RNGS)[number];

export const DECODERS = ["vae", "taesd"] as const;
export type Decoder = (typeof DECODERS)[number];

/** "default": fp32 activations, the numbers the reference tests check. "fast": may trade exactness for speed (bf16 GEMMs where the CPU has AVX-512 BF16); falls back to "default" where it has no faster path. */
export const PRECISIONS = ["default", "fast"] as const;
export type Precision = (typeof PRECISIONS)[number];

/** VAE decode in overlapping tiles: sizes in image pixels, multiples of 8. */
export interface VaeTileSize {
  /** Tile side. Default 512; 64 .. 4096. */
  tileSize?: number;
  /** Pixels shared by neighbouring tiles, blended with linear ramps. Default 128; 0 .. tileSize/2 - 8. */
  overlap?: number;
}
/** "auto" (default): tiles only when the untiled decode's activations would exceed ~1 GiB; true: always; false: never. */
export type VaeTiling = "auto" | boolean | VaeTileSize;
export interface ResolvedVaeTiling {
  mode: "auto" | "on" | "off";
  tileSize: number;
  overlap: number;
}
export const VAE_TILE_DEFAULTS = { tileSize: 512, overlap: 128 } as const;

/** Pixel sizes: multiples of 8 (the VAE's factor) within these bounds. */
export const MIN_SIZE = 64;
export const MAX_SIZE = 4096;
export const MAX_STEPS = 1000;
export const MAX_BATCH = 16;

/** Raw pixels. `data` is row-major, interleaved; its length fixes the channel count (1, 3 or 4). */
export interface RawImage {
  width: number;
  height: number;
  data: Uint8Array | Uint8ClampedArray;
}

/** A file path, an encoded PNG/JPEG in a Buffer, or raw pixels. */
export type ImageInput = string | Uint8Array | RawImage;

export interface GenerateParams {
  prompt: string;
  negativePrompt?: string;
  /** Pixels, a multiple of 8. Default: the family's size (or the init image's, rounded down to a multiple of 8). */
  width?: number;
  height?: number;
  /** Sampler steps. Default 20. */
  steps?: number;
  /** Classifier-free guidance scale; 1 skips the negative pass. Default 7. */
  cfgScale?: number;
  /** Default "euler_a". */
  sampler?: Sampler;
  /** Default "discrete". */
  scheduler?: Scheduler;
  /** Custom noise levels, strictly descending, ending in 0; overrides steps/scheduler. */
  sigmas?: readonly number[];
  /** 0 .. 2^53-1. Default: random, reported back in the result. */
  seed?: number;
  /** Default "cpu". */
  rng?: Rng;
  /** 1 = last CLIP layer, 2 = penultimate, ... Default 1. */
  clipSkip?: number;
  /** Images per call. Default 1. */
  batchSize?: number;
  /** img2img / inpainting source; resized (stretched) to width x height when its size differs. */
  initImage?: ImageInput;
  /** img2img: how much of the schedule is run, (0, 1]. Default 0.75. */
  strength?: number;
  /** Inpainting mask (white = repaint), same size as initImage; needs initImage. */
  mask?: ImageInput;
  /** LoRA files merged into the weights for this call (with the prompt's `<lora:name:scale>` tags). */
  loras?: readonly LoraSpec[];
  /** Final decoder: "vae" (default) or "taesd" (fast, approximate; needs loadModel's `taesd`). */
  decoder?: Decoder;
  /** Textual-inversion embeddings for this call (with loadModel's embeddingDir). */
  embeddings?: readonly EmbeddingSpec[];
  /** VAE decode in tiles (bounded memory for large images; seams blended). Default "auto". */
  vaeTiling?: VaeTiling;
  /** Default "default" (exact). "fast" may change the numbers; the result says which one ran. */
  precision?: Precision;
}

/** Every option with its value decided; images still as given. */
export interface ResolvedParams {
  prompt: string;
  negativePrompt: string;
  width: number;
  height: number;
  steps: number;
  cfgScale: number;
  sampler: Sampler;
  scheduler: Scheduler;
  sigmas: number[] | undefined;
  seed: number;
  rng: Rng;
  clipSkip: number;
  batchSize: number;
  initImage: ImageInput | undefined;
  strength: number;
  mask: ImageInput | undefined;
  /** The `loras` option, then the prompt's tags once resolved against loraDir. */
  loras: ResolvedLora[];
  decoder: Decoder;
  embeddings: EmbeddingSpec[];
  vaeTiling: ResolvedVaeTiling;
  precision: Precision;
}

/** What the defaults depend on. */
export interface ModelTraits {
  family: "sd1" | "sd2" | "sdxl";
  prediction: "epsilon" | "v";
}

export const DEFAULTS = {
  steps: 20,
  cfgScale: 7,
  sampler: "euler_a",
  scheduler: "discrete",
  rng: "cpu",
  clipSkip: 1,
  batchSize: 1,
  strength: 0.75,
} as const;

/** Native resolution per family: SD 1.x 512, SD 2.x 768 for v-prediction models (512 for the epsilon base), SDXL 1024. */
export function defaultSize(traits: ModelTraits): number {
  if (traits.family === "sdxl") return 1024;
  if (traits.family === "sd2" && traits.prediction === "v") return 768;
  return 512;
}

const KNOWN_PARAMS = [
  "prompt",
  "negativePrompt",
  "width",
  "height",
  "steps",
  "cfgScale",
  "sampler",
  "scheduler",
  "sigmas",
  "seed",
  "rng",
  "clipSkip",
  "batchSize",
  "initImage",
  "strength",
  "mask",
  "loras",
  "decoder",
  "embeddings",
  "vaeTiling",
  "precision",
] as const;

function list(values: readonly string[]): string {
  return values.map((v) => `"${v}"`).join(", ");
}

function checkInt(name: string, v: unknown, lo: number, hi: number): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== "number" || !Number.isInteger(v) || v < lo || v > hi) {
    throw invalidOption(name, `must be an integer from ${lo} to ${hi}, got ${describe(v)}`);
  }
  return v;
}

function checkSize(name: string, v: unknown): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== "number" || !Number.isInteger(v) || v < MIN_SIZE || v > MAX_SIZE || v % 8 !== 0) {
    throw invalidOption(name, `must be a multiple of 8 from ${MIN_SIZE} to ${MAX_SIZE}, got ${describe(v)}`);
  }
  return v;
}

function checkEnum<T extends string>(name: string, v: unknown, allowed: readonly T[]): T | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== "string" || !(allowed as readonly string[]).includes(v)) {
    throw invalidOption(name, `must be one of ${list(allowed)}, got ${describe(v)}`);
  }
  return v as T;
}

function describe(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v);
  if (typeof v === "number" || typeof v === "boolean" || v === null || v === undefined) return String(v);
  if (Array.isArray(v)) return "an array";
  return typeof v === "object" ? "an object" : typeof v;
}

function checkImageInput(name: string, v: unknown): ImageInput | undefined {
  if (v === undefined) return undefined;
  if (typeof v === "string") {
    if (v === "") throw invalidOption(name, "must be a file path, a PNG/JPEG Buffer or { width, height, data }");
    return v;
  }
  if (v instanceof Uint8Array) {
    if (v.length === 0) throw invalidOption(name, "is an empty buffer");
    return v;
  }
  if (typeof v === "object" && v !== null && "data" in v) {
    const { width, height, data } = v as RawImage;
    if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1 || width * height > 1 << 26) {
      throw invalidOption(name, "width and height must be positive integers (at most 64 megapixels)");
    }
    if (!(data instanceof Uint8Array || data instanceof Uint8ClampedArray)) {
      throw invalidOption(name, "data must be a Uint8Array of RGB, RGBA or grayscale pixels");
    }
    const px = width * height;
    if (data.length !== px && data.length !== px * 3 && data.length !== px * 4) {
      throw invalidOption(
        name,
        `data has ${data.length} bytes; ${width}x${height} needs ${px} (gray), ${px * 3} (RGB) or ${px * 4} (RGBA)`,
      );
    }
    return v as RawImage;
  }
  throw invalidOption(name, `must be a file path, a PNG/JPEG Buffer or { width, height, data }, got ${describe(v)}`);
}

function checkSigmas(v: unknown): number[] | undefined {
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || v.length < 2 || v.length > MAX_STEPS + 1) {
    throw invalidOption("sigmas", `must be an array of 2 to ${MAX_STEPS + 1} numbers`);
  }
  for (let i = 0; i < v.length; i++) {
    const s = v[i] as unknown;
    // 1e6: far above any model's sigma_max (SD 14.6, zero terminal SNR 4096); more overflows float32.
    if (typeof s !== "number" || !Number.isFinite(s) || s < 0 || s > 1e6) {
      throw invalidOption("sigmas", `sigmas[${i}] must be a number from 0 to 1e6, got ${describe(s)}`);
    }
    if (i > 0 && s >= (v[i - 1] as number)) throw invalidOption("sigmas", "must be strictly descending");
  }
  if (v[v.length - 1] !== 0) throw invalidOption("sigmas", "must end with 0");
  return [...(v as number[])];
}

function checkVaeTiling(v: unknown): ResolvedVaeTiling {
  const d = VAE_TILE_DEFAULTS;
  if (v === undefined || v === "auto") return { mode: "auto", ...d };
  if (typeof v === "boolean") return { mode: v ? "on" : "off", ...d };
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw invalidOption("vaeTiling", `must be "auto", true, false or { tileSize, overlap }, got ${describe(v)}`);
  }
  for (const key of Object.keys(v)) {
    if (key !== "tileSize" && key !== "overlap")
      throw invalidOption("vaeTiling", `has no option "${key}" (tileSize, overlap)`);
  }
  const { tileSize = d.tileSize, overlap = d.overlap } = v as VaeTileSize;
  if (
    typeof tileSize !== "number" ||
    !Number.isInteger(tileSize) ||
    tileSize < 64 ||
    tileSize > MAX_SIZE ||
    tileSize % 8
  ) {
    throw invalidOption(
      "vaeTiling",
      `tileSize must be a multiple of 8 from 64 to ${MAX_SIZE}, got ${describe(tileSize)}`,
    );
  }
  if (
    typeof overlap !== "number" ||
    !Number.isInteger(overlap) ||
    overlap < 0 ||
    overlap % 8 ||
    2 * overlap >= tileSize
  ) {
    throw invalidOption(
      "vaeTiling",
      `overlap must be a multiple of 8 from 0 to less than tileSize/2 (${tileSize / 2}), got ${describe(overlap)}`,
    );
  }
  return { mode: "on", tileSize, overlap };
}

/** A seed for calls that did not give one: 32 random bits, like the usual web UIs. */
export function randomSeed(): number {
  return Math.floor(Math.random() * 2 ** 32);
}

/**
 * Validates `params` and fills in every default. Throws ERR_INVALID_OPTION naming
 * the option and what is allowed. `initImageSize` (the decoded init image's size)
 * supplies the default width/height of img2img calls.
 */
export function resolveParams(
  params: GenerateParams,
  traits: ModelTraits,
  context: { initImageSize?: { width: number; height: number }; seed?: () => number } = {},
): ResolvedParams {
  if (typeof params !== "object" || params === null) throw invalidOption("params", "must be an object");
  checkKnownKeys("generate()", params, KNOWN_PARAMS);
  if (typeof params.prompt !== "string")
    throw invalidOption("prompt", `must be a string, got ${describe(params.prompt)}`);
  const negativePrompt = params.negativePrompt === undefined ? "" : params.negativePrompt;
  if (typeof negativePrompt !== "string") {
    throw invalidOption("negativePrompt", `must be a string, got ${describe(params.negativePrompt)}`);
  }
  const initImage = checkImageInput("initImage", params.initImage);
  const mask = checkImageInput("mask", params.mask);
  if (mask !== undefined && initImage === undefined)
    throw invalidOption("mask", "needs initImage (the image to inpaint)");

  const size = defaultSize(traits);
  const fromInit = (n: number) => Math.min(MAX_SIZE, Math.max(MIN_SIZE, Math.floor(n / 8) * 8));
  const width =
    checkSize("width", params.width) ?? (context.initImageSize ? fromInit(context.initImageSize.width) : size);
  const height =
    checkSize("height", params.height) ?? (context.initImageSize ? fromInit(context.initImageSize.height) : size);

  const sigmas = checkSigmas(params.sigmas);
  const steps = checkInt("steps", params.steps, 1, MAX_STEPS) ?? (sigmas ? sigmas.length - 1 : DEFAULTS.steps);
  if (sigmas && params.steps !== undefined && params.steps !== sigmas.length - 1) {
    throw invalidOption(
      "steps",
      `is ${params.steps} but sigmas gives ${sigmas.length - 1} steps; give one or the other`,
    );
  }

  const cfgScale = params.cfgScale === undefined ? DEFAULTS.cfgScale : params.cfgScale;
  if (typeof cfgScale !== "number" || !Number.isFinite(cfgScale) || cfgScale < 0 || cfgScale > 100) {
    throw invalidOption("cfgScale", `must be a number from 0 to 100, got ${describe(params.cfgScale)}`);
  }
  const strength = params.strength === undefined ? DEFAULTS.strength : params.strength;
  if (typeof strength !== "number" || !(strength > 0 && strength <= 1)) {
    throw invalidOption("strength", `must be a number in (0, 1], got ${describe(params.strength)}`);
  }
  if (params.strength !== undefined && initImage === undefined) {
    throw invalidOption("strength", "only applies with initImage (img2img)");
  }
  // img2img runs int(steps * strength) steps (diffusers); none is an error, caught before any native work.
  if (initImage !== undefined && Math.floor(steps * strength) < 1) {
    throw invalidOption(
      "strength",
      `${strength} with ${steps} steps leaves no step to run (img2img runs int(steps * strength)); raise strength or steps`,
    );
  }
  const seed = params.seed === undefined ? (context.seed ?? randomSeed)() : params.seed;
  if (typeof seed !== "number" || !Number.isSafeInteger(seed) || seed < 0) {
    throw invalidOption(
      "seed",
      `must be an integer from 0 to ${Number.MAX_SAFE_INTEGER}, got ${describe(params.seed)}`,
    );
  }

  return {
    prompt: params.prompt,
    negativePrompt,
    width,
    height,
    steps,
    cfgScale,
    sampler: checkEnum("sampler", params.sampler, SAMPLERS) ?? DEFAULTS.sampler,
    scheduler: checkEnum("scheduler", params.scheduler, SCHEDULERS) ?? DEFAULTS.scheduler,
    sigmas,
    seed,
    rng: checkEnum("rng", params.rng, RNGS) ?? DEFAULTS.rng,
    clipSkip: checkInt("clipSkip", params.clipSkip, 1, 12) ?? DEFAULTS.clipSkip,
    batchSize: checkInt("batchSize", params.batchSize, 1, MAX_BATCH) ?? DEFAULTS.batchSize,
    initImage,
    strength,
    mask,
    loras: checkLoras(params.loras),
    decoder: checkEnum("decoder", params.decoder, DECODERS) ?? "vae",
    embeddings: checkEmbeddings(params.embeddings),
    vaeTiling: checkVaeTiling(params.vaeTiling),
    precision: checkEnum("precision", params.precision, PRECISIONS) ?? "default",
  };
}

/** Per-call options of generate(): never global, so concurrent calls do not see each other's events. */
export interface GenerateOptions {
  /** Aborting rejects the call with an AbortError within one sampler step; the model stays usable. */
  signal?: AbortSignal;
  /** Called on the JS thread, in order: encode, denoise 0..steps, decode. A throw aborts the call and rejects with it. */
  onProgress?: (event: ProgressEvent) => void;
  /** Attach a cheap latent preview to every n-th denoise event (0 or undefined: none). */
  previewEvery?: number;
}

export function checkGenerateOptions(
  options: GenerateOptions,
): Required<Pick<GenerateOptions, "previewEvery">> & GenerateOptions {
  if (typeof options !== "object" || options === null) throw invalidOption("options", "must be an object");
  checkKnownKeys("generate()'s options", options, ["signal", "onProgress", "previewEvery"]);
  const { signal, onProgress, previewEvery } = options;
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw invalidOption("signal", "must be an AbortSignal");
  if (onProgress !== undefined && typeof onProgress !== "function") {
    throw invalidOption("onProgress", "must be a function");
  }
  return { signal, onProgress, previewEvery: checkInt("previewEvery", previewEvery, 0, MAX_STEPS) ?? 0 };
}
