// `sd-native convert MODEL -o OUT.gguf --type q8_0`: a progress bar on a TTY,
// one summary line otherwise.
import { SingleBar } from "cli-progress";
import type { Command } from "commander";
import { convertModel } from "./convert.js";
import { invalidOption } from "./errors.js";
import { isWeightType, WEIGHT_TYPES } from "./weight-types.js";

async function convertCommand(modelPath: string, opts: { output?: string; type: string }): Promise<void> {
  if (!opts.output) throw invalidOption("--output", "is required (the .gguf file to write)");
  if (!isWeightType(opts.type)) {
    throw invalidOption("--type", `must be one of ${WEIGHT_TYPES.join(", ")}, got ${opts.type}`);
  }
  const bar = process.stderr.isTTY
    ? new SingleBar({ format: "convert |{bar}| {value}/{total} tensors", stream: process.stderr, hideCursor: true })
    : undefined;
  let started = false;
  const t0 = performance.now();
  // Ctrl-C stops after the tensor being written and removes the partial file (exit 130).
  const controller = new AbortController();
  const onSigint = () => controller.abort();
  process.once("SIGINT", onSigint);
  try {
    await convertModel(modelPath, opts.output, {
      type: opts.type,
      signal: controller.signal,
      onProgress: (done, total) => {
        if (!bar) return;
        if (!started) {
          bar.start(total, done);
          started = true;
        } else {
          bar.update(done);
        }
      },
    });
  } finally {
    process.off("SIGINT", onSigint);
    if (started) bar?.stop();
  }
  process.stderr.write(`wrote ${opts.output} (${opts.type}) in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
}

export function addConvertCommand(program: Command): void {
  program
    .command("convert")
    .description("write a checkpoint as GGUF (LDM names), quantizing the U-Net and text-encoder matmul weights")
    .argument("<model>", "SD 1.x, SD 2.x or SDXL checkpoint file or diffusers folder")
    .option("-o, --output <file>", "the .gguf file to write")
    .option("-t, --type <type>", `weight type: ${WEIGHT_TYPES.join(", ")}`, "f16")
    .action(convertCommand);
}
