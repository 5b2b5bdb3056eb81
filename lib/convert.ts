// convertModel(): an SD 1.x or SDXL checkpoint loadModel() opens -> a GGUF file with the
// original LDM tensor names, readable by sd-native and by the most used C++
// SD engine (docs/quantization.md).
import { fromNativeError, invalidOption } from "./errors.js";
import { native } from "./native.js";
import { isWeightType, WEIGHT_TYPES, type WeightType } from "./weight-types.js";

export interface ConvertOptions {
  /** Type of the U-Net / text-encoder matmul weights; everything else is written as f16. Default "f16". */
  type?: WeightType;
  /** Called after each tensor is written. */
  onProgress?: (done: number, total: number) => void;
}

export async function convertModel(src: string, out: string, options: ConvertOptions = {}): Promise<void> {
  if (typeof src !== "string" || src === "") throw invalidOption("src", "must be a non-empty string");
  if (typeof out !== "string" || out === "") throw invalidOption("out", "must be a non-empty string");
  const type = options.type ?? "f16";
  if (!isWeightType(type)) {
    throw invalidOption("type", `must be one of ${WEIGHT_TYPES.join(", ")}, got ${String(type)}`);
  }
  if (options.onProgress !== undefined && typeof options.onProgress !== "function") {
    throw invalidOption("onProgress", "must be a function");
  }
  const binding = native();
  const onProgress = options.onProgress;
  try {
    await binding.convertModel(src, out, type, (done, total) => {
      try {
        onProgress?.(done, total);
      } catch {
        // A throwing progress callback does not abort the conversion.
      }
    });
  } catch (err) {
    throw fromNativeError(err);
  }
}
