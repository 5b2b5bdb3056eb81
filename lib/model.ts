import { basename, extname } from "node:path";
import {
  buildEmbeddingTable,
  type EmbeddingTable,
  embeddingFilesFor,
  embeddingMismatch,
  type NativeEmbedding,
} from "./embeddings.js";
import { AbortError, checkKnownKeys, fromNativeError, invalidOption, SdError } from "./errors.js";
import { decodeInputs, type GenerateResult, promptTokenizerFor, runGenerate } from "./generate.js";
import { checkLogOptions, type Logger, type LogLevel, makeLog } from "./log.js";
import { checkDirOption, resolvePromptLoras } from "./lora.js";
import { checkMemoryBudget } from "./memory-budget.js";
import { type NativeModel, native } from "./native.js";
import {
  checkGenerateOptions,
  type GenerateOptions,
  type GenerateParams,
  type ResolvedParams,
  resolveParams,
} from "./options.js";
import { EventQueue, type ProgressEvent } from "./progress.js";
import { TaskQueue } from "./queue.js";
import { Tokenizer, vocabularyFromTokens } from "./tokenizer/index.js";
import { isWeightType, WEIGHT_TYPES, type WeightType } from "./weight-types.js";

/** The last item of generateStream(): the call's result. */
export interface GenerateDone {
  stage: "done";
  result: GenerateResult;
}

export type ModelFamily = "sd1" | "sd2" | "sdxl";
export type ModelFormat = "safetensors" | "diffusers" | "ckpt" | "gguf";

export interface ComponentInfo {
  /** Dominant stored dtype of the component's weights, e.g. "f16". */
  dtype: string;
  parameterCount: number;
}

export interface ModelInfo {
  family: ModelFamily;
  format: ModelFormat;
  /** The path given to loadModel. */
  path: string;
  /** Bytes on disk (all files of a diffusers folder together). */
  fileSize: number;
  parameterCount: number;
  /** "unet", "vae", "te1" and for SDXL "te2". */
  components: Record<string, ComponentInfo>;
  /** What the U-Net predicts: "epsilon" or "v". */
  prediction: "epsilon" | "v";
  /** True for 9-channel inpainting U-Nets. */
  inpaint: boolean;
}

export interface LoadOptions {
  /** Worker threads for compute. Default: the number of physical cores. */
  threads?: number;
  /** CLIP vocabulary (bpe_simple_vocab_16e6.txt.gz, vocab.json + merges.txt, or a folder), used when the checkpoint has none. */
  tokenizer?: string;
  /**
   * A diffusers folder whose config.json files supply hyper-parameters that a
   * single-file checkpoint cannot express (e.g. norm_num_groups of a custom model).
   */
  config?: string;
  /** Receives log messages; nothing is printed by default. */
  logger?: Logger;
  /** Most verbose level passed to `logger`. Default "info". */
  logLevel?: LogLevel;
  /**
   * A standalone VAE replacing the checkpoint's: a single file with LDM names (with or without
   * the `first_stage_model.` prefix) or diffusers names, or a diffusers `vae/` folder.
   */
  vae?: string;
  /**
   * A TAESD (tiny autoencoder: diffusers AutoencoderTiny folder/file, or madebyollin's
   * taesd_decoder file) for `decoder: "taesd"` and for full-size previews in progress events.
   */
  taesd?: string;
  /**
   * Folder of textual-inversion embeddings (.safetensors/.bin): a file's name without extension is
   * its token, expanded wherever the prompt or negative prompt uses it.
   */
  embeddingDir?: string;
  /**
   * Convert weights at load (docs/quantization.md): the U-Net's and text encoders' matmul and conv
   * weights become this type; norms, biases, embeddings and the VAE keep their stored precision.
   * The converted weights are written to an unlinked temporary file on disk and memory-mapped, so
   * they are released between stages like a checkpoint's (`SD_NATIVE_QUANT_SPILL=0` keeps them on
   * the heap; `SD_NATIVE_SPILL_DIR` picks the directory). Default: as stored.
   */
  weightType?: WeightType;
  /** Per-component override of `weightType` ("" keeps that component as stored). */
  weightTypes?: { unet?: WeightType | ""; te?: WeightType | ""; vae?: WeightType | "" };
  /** Folder searched for the prompt's `<lora:name:scale>` tags (name + .safetensors/.ckpt/.pt/.bin). */
  loraDir?: string;
}

export class Model {
  #native: NativeModel | undefined;
  readonly info: ModelInfo;
  readonly #options: LoadOptions;
  // generate() calls on this model run one at a time, first come first served.
  readonly #queue = new TaskQueue();
  readonly #log: Logger;
  #own: Tokenizer | null | undefined; // the checkpoint's own vocabulary; null: it has none

  /** @internal Use loadModel(). */
  constructor(nativeModel: NativeModel, options: LoadOptions = {}) {
    this.#native = nativeModel;
    this.#options = options;
    this.#log = makeLog(options.logger, options.logLevel);
    this.info = Object.freeze(nativeModel.info() as ModelInfo);
  }

  get disposed(): boolean {
    return this.#native === undefined;
  }

  /**
   * Frees the model's memory. Queued generate() calls reject with ERR_DISPOSED, a
   * running one is aborted (and rejects with ERR_DISPOSED); resolves once it has stopped.
   * Further calls reject with ERR_DISPOSED.
   */
  async dispose(): Promise<void> {
    const n = this.#native;
    this.#native = undefined;
    await this.#queue.close(new SdError("ERR_DISPOSED", "the model was disposed; load it again with loadModel()"));
    n?.dispose();
  }

  /**
   * Generates images (txt2img; img2img with `initImage`; inpainting with `mask`).
   * Options are validated before any native work (ERR_INVALID_OPTION). Calls on one
   * model are queued FIFO; `signal` aborts within one sampler step (AbortError).
   */
  async generate(params: GenerateParams, options: GenerateOptions = {}): Promise<GenerateResult> {
    const call = checkGenerateOptions(options);
    const first = resolveParams(params, this.info);
    if (first.decoder === "taesd" && this.#options.taesd === undefined) {
      throw invalidOption("decoder", '"taesd" needs a TAESD: the `taesd` load option (--taesd on the command line)');
    }
    if (call.signal?.aborted) throw new AbortError(undefined, { cause: call.signal.reason });
    const nativeModel = this.nativeModel();
    // The queue slot is taken now (no await before it), so calls run in call order; inputs are
    // decoded and the tokenizer found meanwhile, and bad inputs reject at once rather than at
    // the head of the queue.
    const prepared = this.#prepare(params, first);
    if (this.#queue.busy) this.#log("debug", `generate: queued behind ${this.#queue.pending} call(s)`);
    const queued = this.#queue.run(async (signal) => {
      const { resolved, images, tokenize, embeddings } = await prepared;
      const context = {
        native: nativeModel,
        tokenize,
        dualEncoder: this.info.family === "sdxl",
        modelName: basename(this.info.path, extname(this.info.path)),
        threads: this.#options.threads ?? 0,
        log: this.#log,
        embeddings,
      };
      this.#log(
        "debug",
        `generate: ${resolved.width}x${resolved.height}, ${resolved.steps} steps, ${resolved.sampler}/${resolved.scheduler}, seed ${resolved.seed}`,
      );
      const result = await runGenerate(context, resolved, images, {
        signal,
        onProgress: call.onProgress,
        previewEvery: call.previewEvery,
      });
      const t = result.timings;
      this.#log(
        "info",
        `generated ${result.images.length} image(s) in ${t.totalMs.toFixed(0)} ms ` +
          `(text ${t.textEncodeMs.toFixed(0)}, denoise ${t.denoiseMs.toFixed(0)}, decode ${t.vaeDecodeMs.toFixed(0)})`,
      );
      return result;
    }, call.signal);
    return Promise.race([queued, prepared.then(() => queued)]);
  }

  async #prepare(params: GenerateParams, first: ResolvedParams) {
    const images = await decodeInputs(first);
    // img2img without width/height takes the init image's size.
    const sized = images.initImage
      ? resolveParams(params, this.info, { initImageSize: images.initImage, seed: () => first.seed })
      : first;
    const fromPrompt = await resolvePromptLoras(sized.prompt, this.#options.loraDir);
    const resolved = fromPrompt.length > 0 ? { ...sized, loras: [...sized.loras, ...fromPrompt] } : sized;
    checkMemoryBudget(this.nativeModel(), resolved);
    const embeddings = await this.#embeddings(resolved);
    const tokenize = await promptTokenizerFor(this.info, this.#options, embeddings, this.#ownTokenizer());
    return { resolved, images, tokenize, embeddings };
  }

  /** The tokenizer built from the vocabulary the checkpoint file carries (GGUF), once; undefined without one. */
  #ownTokenizer(): Tokenizer | undefined {
    if (this.#own === undefined) {
      const v = this.nativeModel().vocabulary();
      this.#own = v ? new Tokenizer(vocabularyFromTokens(v.tokens, v.merges, this.info.path)) : null;
    }
    return this.#own ?? undefined;
  }

  /** The call's textual-inversion files, read and given token ids (lib/embeddings.ts). */
  async #embeddings(p: ResolvedParams): Promise<EmbeddingTable | undefined> {
    const specs = await embeddingFilesFor(p.embeddings, this.#options.embeddingDir, [p.prompt, p.negativePrompt]);
    if (specs.length === 0) return undefined;
    const nativeModel = this.nativeModel();
    const files = specs.flatMap((spec) => {
      let file: NativeEmbedding;
      try {
        file = nativeModel.readEmbedding(spec.path);
      } catch (err) {
        throw fromNativeError(err);
      }
      // One made for another family: an error when asked for by name, skipped (as the web UI does) from embeddingDir.
      const mismatch = embeddingMismatch(file);
      if (mismatch === "") return [{ spec, file }];
      if (p.embeddings.includes(spec)) throw invalidOption("embeddings", `${spec.path} ${mismatch}`);
      this.#log("warn", `embedding ${spec.path} skipped: it ${mismatch}`);
      return [];
    });
    return buildEmbeddingTable(files);
  }

  /**
   * generate() as an async iterator: every ProgressEvent, then `{ stage: "done", result }`.
   * Leaving the loop early aborts the generation.
   */
  async *generateStream(
    params: GenerateParams,
    options: Omit<GenerateOptions, "onProgress"> = {},
  ): AsyncGenerator<ProgressEvent | GenerateDone, void, undefined> {
    checkGenerateOptions(options); // typed errors before the signal is touched
    const queue = new EventQueue<ProgressEvent, GenerateDone>();
    const controller = new AbortController();
    const forward = () => controller.abort(options.signal?.reason);
    if (options.signal?.aborted) forward();
    options.signal?.addEventListener("abort", forward, { once: true });
    const running = this.generate(params, {
      signal: controller.signal,
      previewEvery: options.previewEvery,
      onProgress: (e) => queue.push(e),
    }).then(
      (result) => queue.finish({ stage: "done", result }),
      (err) => queue.fail(err),
    );
    try {
      yield* queue.drain();
    } finally {
      options.signal?.removeEventListener("abort", forward);
      controller.abort();
      await running;
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }

  /** @internal */
  protected nativeModel(): NativeModel {
    if (!this.#native) throw new SdError("ERR_DISPOSED", "the model has been disposed; load it again with loadModel()");
    return this.#native;
  }
}

const LOAD_OPTION_KEYS = [
  "threads",
  "tokenizer",
  "config",
  "logger",
  "logLevel",
  "vae",
  "taesd",
  "embeddingDir",
  "weightType",
  "weightTypes",
  "loraDir",
] as const satisfies readonly (keyof LoadOptions)[];

function validateLoadOptions(options: LoadOptions): void {
  if (typeof options !== "object" || options === null) throw invalidOption("options", "must be an object");
  checkKnownKeys("loadModel()", options, LOAD_OPTION_KEYS);
  const { threads, tokenizer, config } = options;
  checkLogOptions(options.logger, options.logLevel);
  if (threads !== undefined && (!Number.isInteger(threads) || threads < 1 || threads > 1024)) {
    throw invalidOption("threads", `must be an integer from 1 to 1024, got ${String(threads)}`);
  }
  if (tokenizer !== undefined && (typeof tokenizer !== "string" || tokenizer === "")) {
    throw invalidOption("tokenizer", "must be a path to CLIP vocabulary files");
  }
  if (config !== undefined && (typeof config !== "string" || config === "")) {
    throw invalidOption("config", "must be a path to a diffusers folder");
  }
  checkDirOption("loraDir", options.loraDir);
  checkDirOption("embeddingDir", options.embeddingDir);
  if (options.vae !== undefined && (typeof options.vae !== "string" || options.vae === "")) {
    throw invalidOption("vae", "must be a path to a VAE file or diffusers vae/ folder");
  }
  if (options.taesd !== undefined && (typeof options.taesd !== "string" || options.taesd === "")) {
    throw invalidOption("taesd", "must be a path to a TAESD file or folder");
  }
  if (options.weightType !== undefined && !isWeightType(options.weightType)) {
    throw invalidOption("weightType", `must be one of ${WEIGHT_TYPES.join(", ")}, got ${String(options.weightType)}`);
  }
  if (options.weightTypes !== undefined) {
    const per: unknown = options.weightTypes;
    if (typeof per !== "object" || per === null) throw invalidOption("weightTypes", "must be an object");
    for (const [k, v] of Object.entries(per)) {
      if (!["unet", "te", "vae"].includes(k))
        throw invalidOption("weightTypes", `unknown component "${k}" (unet, te, vae)`);
      if (v !== "" && !isWeightType(v))
        throw invalidOption(`weightTypes.${k}`, `must be "" or one of ${WEIGHT_TYPES.join(", ")}`);
    }
  }
}

/**
 * Opens a Stable Diffusion checkpoint: a single-file `.safetensors`, a `.ckpt`/`.pt`,
 * or a diffusers folder. Weights are memory-mapped, not copied.
 */
export async function loadModel(path: string, options: LoadOptions = {}): Promise<Model> {
  if (typeof path !== "string" || path === "") throw invalidOption("path", "must be a non-empty string");
  validateLoadOptions(options);
  let nativeModel: NativeModel;
  const t0 = performance.now();
  try {
    nativeModel = await native().loadModel(path, {
      config: options.config,
      vae: options.vae,
      taesd: options.taesd,
      weightType: options.weightType,
      weightTypes: options.weightTypes,
    });
  } catch (err) {
    throw fromNativeError(err);
  }
  const model = new Model(nativeModel, options);
  const log = makeLog(options.logger, options.logLevel);
  const kernels = native().kernelPath();
  log(
    "info",
    `loaded ${path} (${model.info.family}, ${model.info.format}) in ${(performance.now() - t0).toFixed(0)} ms; ${kernels} kernels`,
  );
  if (kernels === "scalar" && process.env.SD_NATIVE_CPU !== "scalar") {
    log(
      "warn",
      "no SIMD kernels for this CPU in this build: generation runs several times slower " +
        "(a Windows build from source needs Visual Studio's ClangCL toolset, see docs/install.md)",
    );
  }
  return model;
}
