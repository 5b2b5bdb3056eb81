// One generate() call from resolved options to images: tokenized prompts and
// decoded images go to the native worker; its events come back as
// ProgressEvents; abort goes through the call's own signal.
import { type EmbeddingTable, type ExtraTokens, withPlaceholders } from "./embeddings.js";
import { AbortError, fromNativeError, invalidOption, SdError } from "./errors.js";
import { Image } from "./image.js";
import { decodeImageInput, type Pixels, resize, toGray, toRgb } from "./image-input.js";
import type { NativeModel } from "./native.js";
import type { GenerateOptions, Precision, ResolvedParams } from "./options.js";
import { formatParameters } from "./parameters.js";
import { type NativeEvent, ProgressTracker } from "./progress.js";
import { encodePrompt, PAD_OPENCLIP, PAD_SD1 } from "./prompt/index.js";
import { resolveTokenizer, type Tokenizer } from "./tokenizer/index.js";

export interface GenerateTimings {
  /** Lazy weight preparation done by this call (e.g. a weightType conversion), when there was any. */
  loadMs?: number;
  textEncodeMs: number;
  denoiseMs: number;
  /** One entry per sampler step. */
  perStepMs: number[];
  vaeDecodeMs: number;
  /** From the start of the native work to the images (queue wait excluded). */
  totalMs: number;
  /** @internal Seconds per op family and stage, and CPU seconds per stage; only with SD_NATIVE_OP_TIMERS=1 in the environment (bench/). */
  ops?: Record<"encode" | "denoise" | "decode" | "cpuSeconds", Record<string, number>>;
}

export interface GenerateResult {
  images: Image[];
  /** The seed used (the random one when none was given). */
  seed: number;
  /** The precision that ran: "default" when "fast" was asked for but this CPU has no faster path (a warning is logged). */
  precision: Precision;
  timings: GenerateTimings;
}

/** 77 token ids and their emphasis weights, as lib/prompt produces per chunk. */
export interface TokenChunk {
  ids: readonly number[];
  weights: readonly number[];
}

/** The text side: prompt text -> 77-token chunks for one text encoder ("te2": SDXL's second). */
export type PromptTokenizer = (
  text: string,
  encoder: "te1" | "te2",
) => { chunks: readonly TokenChunk[] } | Promise<{ chunks: readonly TokenChunk[] }>;

/** Chunks flattened for the addon: [chunks * 77]. */
export interface NativeTokens {
  ids: Int32Array;
  weights: Float32Array;
}

/** What the addon's generate() reads (native/addon/generate_params.cpp). */
export interface NativeGenerateParams {
  prompt: NativeTokens;
  negativePrompt: NativeTokens;
  prompt2?: NativeTokens;
  negativePrompt2?: NativeTokens;
  width: number;
  height: number;
  steps: number;
  cfgScale: number;
  sampler: string;
  scheduler: string;
  sigmas?: Float32Array;
  seed: number;
  rng: string;
  clipSkip: number;
  batchSize: number;
  initImage?: { width: number; height: number; data: Uint8Array };
  mask?: { width: number; height: number; data: Uint8Array };
  strength: number;
  previewEvery: number;
  threads: number;
  /** "vae" | "taesd" */
  decoder?: string;
  /** Textual-inversion rows for token ids 49408.. of each encoder (lib/embeddings.ts). */
  extraTokens1?: ExtraTokens;
  extraTokens2?: ExtraTokens;
  /** Merged into the weights for this call (native/engine/lora). */
  loras?: Array<{ path: string; scale: number }>;
  /** "auto" | "on" | "off", tile and overlap in image pixels (default: auto, 512, 128). */
  vaeTiling?: string;
  vaeTileSize?: number;
  vaeTileOverlap?: number;
  /** "default" | "fast" (default: "default"). */
  precision?: string;
}

export interface NativeGenerateResult {
  images: Array<{ width: number; height: number; data: Uint8Array }>;
  timings: Required<Omit<GenerateTimings, "ops">> & Pick<GenerateTimings, "ops">;
  /** For the model's logger (e.g. LoRA keys that were ignored). */
  warnings?: string[];
  /** The precision that ran ("default" | "fast"). */
  precision?: string;
}

export interface NativeGenerateHandle {
  promise: Promise<NativeGenerateResult>;
  abort(): void;
}

const CHUNK = 77;

function flatten(chunks: readonly TokenChunk[]): NativeTokens {
  const ids = new Int32Array(chunks.length * CHUNK);
  const weights = new Float32Array(chunks.length * CHUNK);
  chunks.forEach((c, i) => {
    if (c.ids.length !== CHUNK || c.weights.length !== CHUNK) {
      throw new SdError(
        "ERR_INTERNAL",
        `prompt chunk ${i} has ${c.ids.length} ids and ${c.weights.length} weights, not 77`,
      );
    }
    ids.set(c.ids, i * CHUNK);
    weights.set(c.weights, i * CHUNK);
  });
  return { ids, weights };
}

/**
 * Tokenizes prompt and negative prompt for one encoder and pads the shorter one
 * with chunks of the empty prompt, so both condition on the same number of
 * chunks (CFG batches them together).
 */
export async function tokenizePair(
  tokenize: PromptTokenizer,
  encoder: "te1" | "te2",
  prompt: string,
  negative: string,
): Promise<{ prompt: NativeTokens; negative: NativeTokens }> {
  const p = [...(await tokenize(prompt, encoder)).chunks];
  const n = [...(await tokenize(negative, encoder)).chunks];
  if (p.length !== n.length) {
    const empty = (await tokenize("", encoder)).chunks[0];
    if (!empty) throw new SdError("ERR_INTERNAL", "the tokenizer returned no chunk for the empty prompt");
    while (p.length < n.length) p.push(empty);
    while (n.length < p.length) n.push(empty);
  }
  return { prompt: flatten(p), negative: flatten(n) };
}

/** initImage/mask decoded and resized to the generation size. */
export interface PreparedImages {
  initImage?: Pixels;
  mask?: Pixels;
}

/** Decodes initImage and mask (checking they have the same size) before any native work. */
export async function decodeInputs(params: Pick<ResolvedParams, "initImage" | "mask">): Promise<PreparedImages> {
  const initImage = params.initImage === undefined ? undefined : await decodeImageInput(params.initImage, "initImage");
  const mask = params.mask === undefined ? undefined : await decodeImageInput(params.mask, "mask");
  if (initImage && mask && (initImage.width !== mask.width || initImage.height !== mask.height)) {
    throw invalidOption(
      "mask",
      `is ${mask.width}x${mask.height} but initImage is ${initImage.width}x${initImage.height}; they must be the same size`,
    );
  }
  return { initImage, mask };
}

export interface GenerateContext {
  native: NativeModel;
  tokenize: PromptTokenizer;
  /** SDXL conditions on two text encoders. */
  dualEncoder: boolean;
  /** For the parameters text: the model file's name without extension. */
  modelName: string;
  threads: number;
  /** Textual-inversion vectors of this call's placeholders. */
  embeddings?: Pick<EmbeddingTable, "extra1" | "extra2">;
  /** Receives the engine's warnings for this call. */
  log?: (level: "warn", message: string) => void;
}

/** Runs one call (already at the head of its model's queue). Rejects with signal.reason when aborted. */
export async function runGenerate(
  ctx: GenerateContext,
  p: ResolvedParams,
  images: PreparedImages,
  call: Pick<GenerateOptions, "onProgress"> & { signal: AbortSignal; previewEvery: number },
): Promise<GenerateResult> {
  const { signal } = call;
  signal.throwIfAborted();
  const te1 = await tokenizePair(ctx.tokenize, "te1", p.prompt, p.negativePrompt);
  const te2 = ctx.dualEncoder ? await tokenizePair(ctx.tokenize, "te2", p.prompt, p.negativePrompt) : undefined;
  signal.throwIfAborted();

  const params: NativeGenerateParams = {
    prompt: te1.prompt,
    negativePrompt: te1.negative,
    width: p.width,
    height: p.height,
    steps: p.steps,
    cfgScale: p.cfgScale,
    sampler: p.sampler,
    scheduler: p.scheduler,
    seed: p.seed,
    rng: p.rng,
    clipSkip: p.clipSkip,
    batchSize: p.batchSize,
    strength: p.strength,
    previewEvery: call.previewEvery,
    threads: ctx.threads,
  };
  if (te2) {
    params.prompt2 = te2.prompt;
    params.negativePrompt2 = te2.negative;
  }
  if (p.sigmas) params.sigmas = Float32Array.from(p.sigmas);
  if (p.decoder !== "vae") params.decoder = p.decoder;
  if (ctx.embeddings?.extra1) params.extraTokens1 = ctx.embeddings.extra1;
  if (ctx.embeddings?.extra2) params.extraTokens2 = ctx.embeddings.extra2;
  if (p.vaeTiling.mode !== "auto") params.vaeTiling = p.vaeTiling.mode;
  params.vaeTileSize = p.vaeTiling.tileSize;
  params.vaeTileOverlap = p.vaeTiling.overlap;
  if (p.precision !== "default") params.precision = p.precision;
  if (p.loras.length > 0) params.loras = p.loras.map((l) => ({ path: l.path, scale: l.scale }));
  if (images.initImage) {
    const rgb = resize(toRgb(images.initImage), p.width, p.height, "initImage");
    params.initImage = { width: rgb.width, height: rgb.height, data: rgb.data };
  }
  if (images.mask) {
    const gray = resize(toGray(images.mask), p.width, p.height, "mask");
    params.mask = { width: gray.width, height: gray.height, data: gray.data };
  }

  const tracker = new ProgressTracker();
  let callbackError: { error: unknown } | undefined;
  let handle: NativeGenerateHandle;
  const onEvent = (e: NativeEvent) => {
    // Nothing more is reported once the call is aborted: it can only reject now.
    if (callbackError || signal.aborted || !call.onProgress) return;
    try {
      call.onProgress(tracker.event(e));
    } catch (error) {
      // A throwing callback ends the call with its error (and frees the worker).
      callbackError = { error };
      handle.abort();
    }
  };
  try {
    handle = ctx.native.generate(params, onEvent);
  } catch (err) {
    throw fromNativeError(err);
  }
  const onAbort = () => handle.abort();
  signal.addEventListener("abort", onAbort, { once: true });
  let out: NativeGenerateResult;
  try {
    out = await handle.promise;
  } catch (err) {
    if (callbackError) throw callbackError.error;
    const e = fromNativeError(err);
    if (e.code === "ABORT_ERR" && signal.aborted) throw signal.reason ?? new AbortError();
    throw e;
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
  if (callbackError) throw callbackError.error;
  // Aborted after the engine's last check: the caller still gets the AbortError it asked for.
  signal.throwIfAborted();

  for (const w of out.warnings ?? []) ctx.log?.("warn", w);

  const timings: GenerateTimings = {
    textEncodeMs: out.timings.textEncodeMs,
    denoiseMs: out.timings.denoiseMs,
    perStepMs: out.timings.perStepMs,
    vaeDecodeMs: out.timings.vaeDecodeMs,
    totalMs: out.timings.totalMs,
  };
  if (out.timings.loadMs > 0) timings.loadMs = out.timings.loadMs;
  if (out.timings.ops) timings.ops = out.timings.ops;
  return {
    images: out.images.map(
      (img, i) =>
        new Image(
          img.width,
          img.height,
          new Uint8Array(img.data.buffer, img.data.byteOffset, img.data.byteLength),
          formatParameters(p, { model: ctx.modelName, batchIndex: i }),
        ),
    ),
    seed: p.seed,
    precision: out.precision === "fast" ? "fast" : "default",
    timings,
  };
}

/**
 * The text side for a model: prompt syntax (lib/prompt) over the CLIP tokenizer
 * found the documented way (lib/tokenizer), or `own`, the one the checkpoint
 * file carries (GGUF), which wins as a diffusers folder's tokenizer/ does.
 * Padding after EOS: EOS for SD 1.x's and SDXL's CLIP-L encoder, 0 for the
 * OpenCLIP encoders (SD 2.x, SDXL te2). LoRA tags are parsed out of the prompt
 * (lib/lora.ts resolves and applies them).
 */
export async function promptTokenizerFor(
  info: { family: string; path: string },
  options: { tokenizer?: string },
  embeddings?: Pick<EmbeddingTable, "te1" | "te2">,
  own?: Tokenizer,
): Promise<PromptTokenizer> {
  const tok = own ?? (await resolveTokenizer({ modelPath: info.path, tokenizer: options.tokenizer }));
  // Textual-inversion placeholders expand to their token ids, per encoder.
  const te1 = embeddings ? withPlaceholders(tok, embeddings.te1) : tok;
  const te2 = embeddings ? withPlaceholders(tok, embeddings.te2) : tok;
  return (text, encoder) => {
    const padId = info.family === "sd1" || (info.family === "sdxl" && encoder === "te1") ? PAD_SD1 : PAD_OPENCLIP;
    return encodePrompt(text, encoder === "te1" ? te1 : te2, { padId });
  };
}
