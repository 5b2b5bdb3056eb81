// `sd-native generate`: options -> loadModel + generate, a progress bar on a
// TTY (plain lines otherwise) on stderr, images saved, --json metadata on stdout.
// Ctrl-C aborts through the same AbortSignal path as the API.
import { extname } from "node:path";
import { SingleBar } from "cli-progress";
import type { Command } from "commander";
import { SdError } from "./errors.js";
import { checkSavePath } from "./image.js";
import type { LoraSpec } from "./lora.js";
import { type LoadOptions, loadModel } from "./model.js";
import {
  DECODERS,
  type GenerateParams,
  PRECISIONS,
  RNGS,
  resolveParams,
  SAMPLERS,
  SCHEDULERS,
  type VaeTiling,
} from "./options.js";
import type { ProgressEvent } from "./progress.js";

interface GenerateFlags {
  model: string;
  prompt: string;
  negativePrompt?: string;
  width?: string;
  height?: string;
  steps?: string;
  cfg?: string;
  sampler?: string;
  scheduler?: string;
  seed?: string;
  rng?: string;
  clipSkip?: string;
  batch?: string;
  initImg?: string;
  strength?: string;
  mask?: string;
  threads?: string;
  weightType?: string;
  tokenizer?: string;
  config?: string;
  lora: LoraSpec[];
  loraDir?: string;
  embedding: string[];
  embeddingDir?: string;
  vae?: string;
  taesd?: string;
  decoder?: string;
  vaeTiling?: string;
  precision?: string;
  output: string;
  json?: boolean;
}

// Numbers are passed on as typed; generate() validates them (so "-W abc" is
// reported as ERR_INVALID_OPTION like any other bad value). Only plain
// decimals count: Number("") is 0 and Number("0x10") 16, so an empty
// "--seed $SEED" would silently mean seed 0.
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;
function num(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  return DECIMAL.test(v.trim()) ? Number(v) : Number.NaN;
}

/**
 * --vae-tiling auto|on|off|SIZE[:OVERLAP] -> the vaeTiling option. Anything
 * else is passed on as typed so generate() reports it as ERR_INVALID_OPTION.
 */
export function parseVaeTilingFlag(value: string): VaeTiling {
  if (value === "auto") return "auto";
  if (value === "on") return true;
  if (value === "off") return false;
  const m = /^(\d+)(?::(\d+))?$/.exec(value);
  if (!m) return value as unknown as VaeTiling;
  return m[2] === undefined ? { tileSize: Number(m[1]) } : { tileSize: Number(m[1]), overlap: Number(m[2]) };
}

/**
 * --lora PATH[:SCALE] -> { path, scale }. The scale is what follows the last
 * ":" when it is a number (so "C:\loras\x.safetensors" stays a path); default 1.
 */
export function parseLoraFlag(value: string): LoraSpec {
  const colon = value.lastIndexOf(":");
  const tail = value.slice(colon + 1);
  if (colon > 0 && DECIMAL.test(tail)) return { path: value.slice(0, colon), scale: Number(tail) };
  return { path: value, scale: 1 };
}

function collectLora(value: string, previous: LoraSpec[]): LoraSpec[] {
  return [...previous, parseLoraFlag(value)];
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** out.png -> out.png for one image, out-0.png, out-1.png ... for a batch. */
export function outputPaths(output: string, count: number): string[] {
  if (count === 1) return [output];
  const ext = extname(output);
  const stem = output.slice(0, output.length - ext.length);
  return Array.from({ length: count }, (_, i) => `${stem}-${i}${ext}`);
}

function formatSeconds(ms: number): string {
  return ms >= 60_000
    ? `${Math.floor(ms / 60_000)}m${Math.round((ms % 60_000) / 1000)}s`
    : `${(ms / 1000).toFixed(1)}s`;
}

/** Renders progress on stderr: a bar on a TTY, one line per event otherwise. */
class ProgressView {
  readonly #bar: SingleBar | undefined;
  #barStarted = false;
  #denoiseStartMs = 0;

  constructor(tty: boolean) {
    this.#bar = tty
      ? new SingleBar({
          format: "{stage} |{bar}| {value}/{total} steps | {speed} s/step | ETA {etaText}",
          stream: process.stderr,
          hideCursor: true,
          clearOnComplete: false,
        })
      : undefined;
  }

  event(e: ProgressEvent): void {
    if (e.stage === "denoise" && e.step === 0) this.#denoiseStartMs = e.elapsedMs;
    const secondsPerStep =
      e.stage === "denoise" && e.step > 0
        ? ((e.elapsedMs - this.#denoiseStartMs) / e.step / 1000).toFixed(2)
        : undefined;
    const eta = e.etaMs === undefined ? undefined : formatSeconds(e.etaMs);
    if (this.#bar && e.stage === "denoise") {
      const payload = { stage: e.stage, speed: secondsPerStep ?? "-", etaText: eta ?? "-" };
      if (!this.#barStarted) {
        this.#bar.start(e.steps, e.step, payload);
        this.#barStarted = true;
      } else {
        this.#bar.update(e.step, payload);
      }
      return;
    }
    this.stop();
    const parts = [`${e.stage} ${e.step}/${e.steps}`];
    if (e.sigma !== undefined) parts.push(`sigma=${e.sigma.toFixed(4)}`);
    if (secondsPerStep !== undefined) parts.push(`${secondsPerStep}s/step`);
    if (eta !== undefined) parts.push(`eta=${eta}`);
    parts.push(`elapsed=${formatSeconds(e.elapsedMs)}`);
    process.stderr.write(`${parts.join(" ")}\n`);
  }

  stop(): void {
    if (this.#barStarted) this.#bar?.stop();
    this.#barStarted = false;
  }
}

// API option names in error messages -> the flags a CLI user typed.
const FLAG_NAMES: Readonly<Record<string, string>> = {
  prompt: "--prompt",
  negativePrompt: "--negative-prompt",
  width: "--width",
  height: "--height",
  steps: "--steps",
  cfgScale: "--cfg",
  sampler: "--sampler",
  scheduler: "--scheduler",
  seed: "--seed",
  rng: "--rng",
  clipSkip: "--clip-skip",
  batchSize: "--batch",
  initImage: "--init-img",
  strength: "--strength",
  mask: "--mask",
  loras: "--lora",
  embeddings: "--embedding",
  decoder: "--decoder",
  vaeTiling: "--vae-tiling",
  precision: "--precision",
  path: "--output",
  threads: "--threads",
  weightType: "--weight-type",
  tokenizer: "--tokenizer",
  config: "--config",
  loraDir: "--lora-dir",
  embeddingDir: "--embedding-dir",
  vae: "--vae",
  taesd: "--taesd",
};

/** Rewrites an ERR_INVALID_OPTION message's leading option name as its flag. */
export function withFlagName(err: unknown): unknown {
  if (!(err instanceof SdError) || err.code !== "ERR_INVALID_OPTION") return err;
  const m = /^([A-Za-z.]+): /.exec(err.message);
  const flag = m ? FLAG_NAMES[m[1] as string] : undefined;
  return flag
    ? new SdError(err.code, `${flag}: ${err.message.slice((m as RegExpExecArray)[0].length)}`, { cause: err })
    : err;
}

async function generateCommand(flags: GenerateFlags): Promise<void> {
  try {
    await runGenerateCommand(flags);
  } catch (err) {
    throw withFlagName(err);
  }
}

async function runGenerateCommand(flags: GenerateFlags): Promise<void> {
  const params: GenerateParams = {
    prompt: flags.prompt,
    negativePrompt: flags.negativePrompt,
    width: num(flags.width),
    height: num(flags.height),
    steps: num(flags.steps),
    cfgScale: num(flags.cfg),
    sampler: flags.sampler as GenerateParams["sampler"],
    scheduler: flags.scheduler as GenerateParams["scheduler"],
    seed: num(flags.seed),
    rng: flags.rng as GenerateParams["rng"],
    clipSkip: num(flags.clipSkip),
    batchSize: num(flags.batch),
    initImage: flags.initImg,
    strength: num(flags.strength),
    mask: flags.mask,
    loras: flags.lora.length > 0 ? flags.lora : undefined,
    embeddings: flags.embedding.length > 0 ? flags.embedding.map((path) => ({ path })) : undefined,
    decoder: flags.decoder as GenerateParams["decoder"],
    vaeTiling: flags.vaeTiling === undefined ? undefined : parseVaeTilingFlag(flags.vaeTiling),
    precision: flags.precision as GenerateParams["precision"],
  };
  // Unset flags must not count as given options.
  for (const key of Object.keys(params) as Array<keyof GenerateParams>) {
    if (params[key] === undefined) delete params[key];
  }
  // Bad options and an unwritable -o fail before the (possibly slow) model load; family-specific defaults come later.
  resolveParams(params, { family: "sd1", prediction: "epsilon" });
  await checkSavePath(flags.output);
  const controller = new AbortController();
  const view = new ProgressView(Boolean(process.stderr.isTTY));
  let interrupts = 0;
  const onSigint = () => {
    interrupts += 1;
    if (interrupts > 1) {
      view.stop(); // restores the cursor the bar hid
      process.exit(130); // a second Ctrl-C does not wait for the step to finish
    }
    process.stderr.write("\ncancelling (Ctrl-C again to quit now)...\n");
    controller.abort();
  };
  process.on("SIGINT", onSigint);
  const model = await loadModel(flags.model, {
    logger: (level, message) => {
      if (level === "warn" || level === "error") process.stderr.write(`warning: ${message}\n`);
    },
    threads: num(flags.threads),
    tokenizer: flags.tokenizer,
    config: flags.config,
    weightType: flags.weightType as LoadOptions["weightType"],
    loraDir: flags.loraDir,
    embeddingDir: flags.embeddingDir,
    vae: flags.vae,
    taesd: flags.taesd,
  });
  try {
    const result = await model.generate(params, { signal: controller.signal, onProgress: (e) => view.event(e) });
    view.stop();
    const paths = outputPaths(flags.output, result.images.length);
    await Promise.all(result.images.map((img, i) => img.save(paths[i] as string)));
    if (flags.json) {
      const first = result.images[0];
      const meta = {
        images: paths,
        seed: result.seed,
        width: first?.width,
        height: first?.height,
        parameters: first?.parameters,
        precision: result.precision,
        timings: result.timings,
      };
      process.stdout.write(`${JSON.stringify(meta, null, 2)}\n`);
    } else {
      for (const p of paths) process.stdout.write(`${p}\n`);
    }
  } finally {
    view.stop();
    process.off("SIGINT", onSigint);
    await model.dispose();
  }
}

export function addGenerateCommand(program: Command): void {
  program
    .command("generate")
    .description("generate images from a prompt (txt2img; img2img with --init-img; inpainting with --mask)")
    .requiredOption("-m, --model <path>", "checkpoint file or diffusers folder")
    .requiredOption("-p, --prompt <text>", "the prompt (web UI syntax: (word:1.2), [word], BREAK)")
    .option("-n, --negative-prompt <text>", "what to steer away from")
    .option("-W, --width <px>", "image width, a multiple of 8 (default: the model family's size)")
    .option("-H, --height <px>", "image height, a multiple of 8 (default: the model family's size)")
    .option("--steps <n>", "sampler steps (default 20)")
    .option("--cfg <scale>", "classifier-free guidance scale (default 7)")
    .option("--sampler <name>", `sampler: ${SAMPLERS.join(", ")} (default euler_a)`)
    .option("--scheduler <name>", `noise schedule: ${SCHEDULERS.join(", ")} (default discrete)`)
    .option("--seed <n>", "random seed (default: random, printed with --json)")
    .option("--rng <kind>", `noise generator: ${RNGS.join(", ")} (default cpu)`)
    .option("--clip-skip <n>", "use the n-th CLIP layer from the end (default 1)")
    .option("--batch <n>", "images per call (default 1); saved as NAME-0.png, NAME-1.png, ...")
    .option("--init-img <path>", "img2img source image (PNG or JPEG), stretched to the output size")
    .option("--strength <x>", "img2img strength in (0, 1] (default 0.75)")
    .option("--mask <path>", "inpainting mask, white = repaint (same size as --init-img)")
    .option("--threads <n>", "compute threads (default: physical cores)")
    .option("--weight-type <type>", "convert weights at load (e.g. f16, q8_0)")
    .option("--tokenizer <path>", "CLIP vocabulary when the checkpoint has none")
    .option("--config <dir>", "diffusers folder with config.json files for a single-file checkpoint")
    .option(
      "--lora <path[:scale]>",
      "apply a LoRA file (scale default 1, may be negative); repeatable",
      collectLora,
      [],
    )
    .option("--lora-dir <dir>", "folder for the prompt's <lora:name:scale> tags")
    .option(
      "--embedding <path>",
      "textual-inversion embedding (token: the file's, else its name); repeatable",
      collect,
      [],
    )
    .option("--embedding-dir <dir>", "folder of embeddings, used when the prompt names one (file name = token)")
    .option("--vae <path>", "standalone VAE replacing the checkpoint's (file or diffusers vae/ folder)")
    .option("--taesd <path>", "TAESD tiny autoencoder (for --decoder taesd and full-size previews)")
    .option("--decoder <name>", `final decoder: ${DECODERS.join(", ")} (default vae; taesd needs --taesd)`)
    .option(
      "--vae-tiling <mode>",
      "VAE decode in tiles: auto, on, off or SIZE[:OVERLAP] in pixels (default auto: tiles above ~1 GiB of activations)",
    )
    .option("--precision <mode>", `${PRECISIONS.join(" or ")} (default: default, exact; fast may change the numbers)`)
    .option("-o, --output <path>", "output image (.png; .jpg/.webp need the sharp package)", "output.png")
    .option("--json", "print the result metadata as JSON on stdout")
    .action(generateCommand);
}
