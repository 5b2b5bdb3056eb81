import { fromNativeError, invalidOption, SdError } from "./errors.js";
import { type NativeModel, native } from "./native.js";

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
}

export class Model {
  #native: NativeModel | undefined;
  readonly info: ModelInfo;

  /** @internal Use loadModel(). */
  constructor(nativeModel: NativeModel) {
    this.#native = nativeModel;
    this.info = Object.freeze(nativeModel.info() as ModelInfo);
  }

  get disposed(): boolean {
    return this.#native === undefined;
  }

  /** Frees the model's memory. Further calls reject with ERR_DISPOSED. */
  async dispose(): Promise<void> {
    const n = this.#native;
    this.#native = undefined;
    n?.dispose();
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

function validateLoadOptions(options: LoadOptions): void {
  if (typeof options !== "object" || options === null) throw invalidOption("options", "must be an object");
  const { threads, tokenizer, config } = options;
  if (threads !== undefined && (!Number.isInteger(threads) || threads < 1 || threads > 1024)) {
    throw invalidOption("threads", `must be an integer from 1 to 1024, got ${String(threads)}`);
  }
  if (tokenizer !== undefined && (typeof tokenizer !== "string" || tokenizer === "")) {
    throw invalidOption("tokenizer", "must be a path to CLIP vocabulary files");
  }
  if (config !== undefined && (typeof config !== "string" || config === "")) {
    throw invalidOption("config", "must be a path to a diffusers folder");
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
  try {
    nativeModel = await native().loadModel(path, { config: options.config });
  } catch (err) {
    throw fromNativeError(err);
  }
  return new Model(nativeModel);
}
