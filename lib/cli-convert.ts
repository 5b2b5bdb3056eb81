// `sd-native convert MODEL -o OUT.gguf --type q8_0`: a progress bar on a TTY,
// one summary line otherwise.
import { extname } from "node:path";
import { SingleBar } from "cli-progress";
import type { Command } from "commander";
import { convertModel } from "./convert.js";
import { invalidOption } from "./errors.js";
import { WEIGHT_TYPES } from "./weight-types.js";

async function convertCommand(modelPath: string, opts: { output?: string; type: string }): Promise<void> {
  if (!opts.output) throw invalidOption("--output", "is required (the .gguf file to write)");
  // Any case: files are often named Q8_0 / Q4_K.
  const type = WEIGHT_TYPES.find((t) => t.toLowerCase() === opts.type.toLowerCase());
  if (!type) {
    throw invalidOption("--type", `must be one of ${WEIGHT_TYPES.join(", ")}, got ${opts.type}`);
  }
  if (extname(opts.output).toLowerCase() !== ".gguf") {
    process.stderr.write(`warning: ${opts.output} will be a GGUF file; other tools expect the .gguf extension\n`);
  }
  const bar = process.stderr.isTTY
    ? new SingleBar({ format: "convert |{bar}| {value}/{total} tensors", stream: process.stderr, hideCursor: true })
    : undefined;
  let started = false;
  const t0 = performance.now();
  // Ctrl-C or SIGTERM stops after the tensor being written and removes the
  // partial file (exit 130); repeats are ignored, since that takes at most a tensor.
  const controller = new AbortController();
  const onSignal = () => controller.abort();
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    await convertModel(modelPath, opts.output, {
      type,
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
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    if (started) bar?.stop();
  }
  process.stderr.write(`wrote ${opts.output} (${type}) in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
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
