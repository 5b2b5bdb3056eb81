// convertModel(): an SD 1.x, SD 2.x or SDXL checkpoint loadModel() opens -> a GGUF file with the
// original LDM tensor names, readable by sd-native and by the most used C++
// SD engine (docs/quantization.md).
import { AbortError, checkKnownKeys, fromNativeError, invalidOption } from "./errors.js";
import { native } from "./native.js";
import { isWeightType, WEIGHT_TYPES, type WeightType } from "./weight-types.js";

export interface ConvertOptions {
  /** Type of the U-Net / text-encoder matmul weights; everything else is written as f16. Default "f16". */
  type?: WeightType;
  /** Called after each tensor is written. */
  onProgress?: (done: number, total: number) => void;
  /** Stops the conversion after the tensor being written: rejects with AbortError and leaves no output file. */
  signal?: AbortSignal;
}

export async function convertModel(src: string, out: string, options: ConvertOptions = {}): Promise<void> {
  if (typeof src !== "string" || src === "") throw invalidOption("src", "must be a non-empty string");
  if (typeof out !== "string" || out === "") throw invalidOption("out", "must be a non-empty string");
  if (typeof options !== "object" || options === null) throw invalidOption("options", "must be an object");
  checkKnownKeys("convertModel()", options, ["type", "onProgress", "signal"]);
  const type = options.type ?? "f16";
  if (!isWeightType(type)) {
    throw invalidOption("type", `must be one of ${WEIGHT_TYPES.join(", ")}, got ${String(type)}`);
  }
  if (options.onProgress !== undefined && typeof options.onProgress !== "function") {
    throw invalidOption("onProgress", "must be a function");
  }
  const { onProgress, signal } = options;
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw invalidOption("signal", "must be an AbortSignal");
  if (signal?.aborted) throw new AbortError(undefined, { cause: signal.reason });
  const handle = native().convertModel(src, out, type, (done, total) => {
    try {
      onProgress?.(done, total);
    } catch {
      // A throwing progress callback does not abort the conversion.
    }
  });
  const onAbort = () => handle.abort();
  signal?.addEventListener("abort", onAbort, { once: true });
  try {
    await handle.promise;
  } catch (err) {
    throw fromNativeError(err);
  } finally {
    signal?.removeEventListener("abort", onAbort);
  }
}
