// Full-size pipeline benchmark: txt2img through the public API on a random-weight
// checkpoint with the exact SD 1.5 layout (same compute as real weights).
//
// Usage: npx tsup && node bench/generate.mjs [--size 256|512] [--steps N] [--threads N]
//          [--weight-type f16|f32|bf16|q8_0|...] [--precision default|fast] [--no-scaling] [--checkpoint FILE]
//   (npm run bench -- --size 512 --steps 2)
// The checkpoint is generated once into $SD_NATIVE_BENCH_CACHE (default ~/.cache/sd-native-bench)
// with ../shared/tools/make-random-checkpoint.mjs (about 2 GB for f16).
// Prints a human table, then one JSON line. Op-family shares come from the engine's op timers,
// switched on here through SD_NATIVE_OP_TIMERS=1.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { BENCH_CACHE, CLIP, importLib, SD15_CHECKPOINT, SHARED, vaeDecoderGmac } from "./common.mjs";

const { values: args } = parseArgs({
  options: {
    size: { type: "string", default: "256" },
    steps: { type: "string", default: "4" },
    threads: { type: "string", default: "2" },
    "weight-type": { type: "string" },
    precision: { type: "string", default: "default" },
    "no-scaling": { type: "boolean", default: false },
    checkpoint: { type: "string" },
  },
});
const size = Number(args.size);
const steps = Number(args.steps);
const threads = Number(args.threads);
if (
  !(size >= 64 && size % 64 === 0) ||
  !(steps >= 1) ||
  !(threads >= 1) ||
  !["default", "fast"].includes(args.precision)
) {
  console.error("bench: --size must be a multiple of 64, --steps and --threads >= 1, --precision default or fast");
  process.exit(2);
}

// Analytic multiply-accumulate counts (GMAC). U-Net: the figures at 256/512, else scaled
// by pixel count from 512 (attention is quadratic, so approximate). VAE decoder: bench/common.mjs.
function unetGmac(px) {
  if (px === 512) return 402;
  if (px === 256) return 90;
  return (402 * (px * px)) / (512 * 512);
}
async function ensureCheckpoint() {
  if (args.checkpoint) return args.checkpoint;
  const file = SD15_CHECKPOINT;
  if (!existsSync(file)) {
    const tool = join(SHARED, "tools", "make-random-checkpoint.mjs");
    if (!existsSync(tool)) throw new Error(`bench: ${tool} not found (needed once to create ${file})`);
    mkdirSync(BENCH_CACHE, { recursive: true });
    console.error(`bench: writing the random SD 1.5 checkpoint (about 2 GB) to ${file} ...`);
    execFileSync(process.execPath, [tool, "--arch", "sd15", "--dtype", "f16", "--out", file], { stdio: "inherit" });
  }
  return file;
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

// Peak RSS per stage: at the first decode event the high-water mark so far is the text-encode +
// denoise peak; then it is reset (Linux: "5" > /proc/self/clear_refs) so the final one is the decode's.
function resetPeakRss() {
  try {
    writeFileSync("/proc/self/clear_refs", "5");
    return true;
  } catch {
    return false;
  }
}

function peakRssMb() {
  // VmHWM is the resident high-water mark; resourceUsage().maxRSS elsewhere (KiB on Linux/macOS).
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync("/proc/self/status", "utf8"));
    if (m) return Number(m[1]) / 1024;
  } catch {}
  return process.resourceUsage().maxRSS / 1024;
}

// Resident set split (Linux): RssAnon = heap (activations, scratch, converted weights), RssFile =
// mapped checkpoint pages. Sampled every 50 ms on the JS thread (the engine runs on a worker), the
// largest total per stage kept with its split. Elsewhere: null.
function rssSplitMb() {
  try {
    const s = readFileSync("/proc/self/status", "utf8");
    const kb = (k) => Number(new RegExp(`${k}:\\s+(\\d+) kB`).exec(s)?.[1] ?? Number.NaN) / 1024;
    const anon = kb("RssAnon");
    const file = kb("RssFile") + kb("RssShmem");
    return Number.isFinite(anon) ? { total: anon + file, anon, file } : null;
  } catch {
    return null;
  }
}

function stageRssSampler() {
  const peaks = {};
  let stage = "encode";
  const sample = () => {
    const r = rssSplitMb();
    if (r && !(peaks[stage]?.total >= r.total)) peaks[stage] = r;
  };
  const timer = setInterval(sample, 50);
  return {
    peaks,
    setStage(s) {
      if (s === stage) return;
      sample();
      stage = s;
    },
    stop() {
      sample();
      clearInterval(timer);
    },
  };
}

async function run(lib, checkpoint, nThreads, nSteps) {
  const loadOptions = { threads: nThreads, tokenizer: CLIP };
  if (args["weight-type"]) loadOptions.weightType = args["weight-type"];
  const t0 = performance.now();
  const warnings = [];
  loadOptions.logger = (level, message) => {
    if (level === "warn") warnings.push(message);
  };
  const model = await lib.loadModel(checkpoint, loadOptions);
  const loadMs = performance.now() - t0;
  const stagePeaks = {};
  const sampler = stageRssSampler();
  const onProgress = (e) => {
    sampler.setStage(e.stage);
    if (e.stage === "decode" && stagePeaks.denoiseMb === undefined) {
      stagePeaks.denoiseMb = peakRssMb();
      if (!resetPeakRss()) stagePeaks.denoiseMb = null;
    }
  };
  try {
    const result = await model.generate(
      {
        prompt: "a photograph of an astronaut riding a horse",
        negativePrompt: "blurry",
        width: size,
        height: size,
        steps: nSteps,
        sampler: "euler",
        cfgScale: 7,
        seed: 42,
        precision: args.precision,
      },
      { onProgress },
    );
    if (stagePeaks.denoiseMb) stagePeaks.decodeMb = peakRssMb();
    sampler.stop();
    return { loadMs, t: result.timings, stagePeaks, rssSplit: sampler.peaks, precision: result.precision, warnings };
  } finally {
    sampler.stop();
    await model.dispose();
  }
}

const FAMILIES = ["conv2d", "attention", "linear", "norm", "elementwise", "layout"];

function opShares(opsStage, stageMs) {
  if (!opsStage) return null;
  const total = stageMs / 1000;
  const shares = {};
  let sum = 0;
  for (const f of FAMILIES) {
    const s = opsStage[f] ?? 0;
    shares[f] = s / total;
    sum += s;
  }
  shares.other = Math.max(0, 1 - sum / total); // outside any op: sampler, copies, allocation
  return shares;
}

const checkpoint = await ensureCheckpoint();
const lib = await importLib();
process.env.SD_NATIVE_OP_TIMERS = "1";

const main = await run(lib, checkpoint, threads, steps);
const rssMb = Math.max(peakRssMb(), main.stagePeaks.denoiseMb ?? 0);
const t = main.t;
const stepS = median(t.perStepMs) / 1000;
const decodeS = t.vaeDecodeMs / 1000;
const uGmac = unetGmac(size);
const vGmac = vaeDecoderGmac(size);
const report = {
  machine: `${cpus()[0]?.model ?? "?"} (${cpus().length} logical CPUs)`,
  size,
  steps,
  threads,
  weightType: args["weight-type"] ?? "as stored (f16)",
  // Asked for / what ran ("fast" falls back to "default" where there is no faster path; see warnings).
  precision: { requested: args.precision, ran: main.precision },
  warnings: main.warnings,
  loadS: main.loadMs / 1000,
  textEncodeS: t.textEncodeMs / 1000,
  stepS,
  vaeDecodeS: decodeS,
  peakRssMb: rssMb,
  peakRssByStageMb: main.stagePeaks.denoiseMb
    ? { encodeAndDenoise: main.stagePeaks.denoiseMb, decode: main.stagePeaks.decodeMb }
    : null,
  // Sampled (50 ms) largest RSS per stage with its anonymous / file-backed split, MiB.
  rssSplitMb: main.rssSplit,
  unetGflops: (2 * 2 * uGmac) / stepS,
  vaeGflops: (2 * vGmac) / decodeS,
  unetGmacPerEval: uGmac,
  vaeDecoderGmac: vGmac,
  // Per CPU-second of this process: on a shared (oversubscribed) machine the wall-time figures
  // include time other processes held the cores; these approximate an idle machine.
  unetGflopsPerCpuS: t.ops ? (steps * 2 * 2 * uGmac) / t.ops.cpuSeconds.denoise : null,
  vaeGflopsPerCpuS: t.ops ? (2 * vGmac) / t.ops.cpuSeconds.decode : null,
  cpuSeconds: t.ops?.cpuSeconds ?? null,
  stepShares: opShares(t.ops?.denoise, t.denoiseMs),
  decodeShares: opShares(t.ops?.decode, t.vaeDecodeMs),
};

if (!args["no-scaling"]) {
  // One step and one decode at 1 thread against the main run (same process: RSS peak taken above).
  const one = await run(lib, checkpoint, 1, 1);
  report.scaling = {
    step1S: median(one.t.perStepMs) / 1000,
    [`step${threads}S`]: stepS,
    decode1S: one.t.vaeDecodeMs / 1000,
    [`decode${threads}S`]: decodeS,
  };
  report.scaling.stepSpeedup = report.scaling.step1S / stepS;
  report.scaling.decodeSpeedup = report.scaling.decode1S / decodeS;
}

const f = (x, d = 2) => (x === undefined || x === null ? "-" : x.toFixed(d));
const pct = (x) => `${(100 * x).toFixed(1)}%`;
const rows = [
  ["machine", report.machine],
  ["image / steps / threads", `${size}x${size} / ${steps} (euler, cfg 7) / ${threads}`],
  ["weights", report.weightType],
  [
    "precision",
    report.precision.requested === report.precision.ran
      ? report.precision.ran
      : `${report.precision.requested} requested, ${report.precision.ran} ran (${main.warnings.find((w) => w.startsWith("precision")) ?? "no faster path"})`,
  ],
  ["load", `${f(report.loadS, 3)} s`],
  ["text encode", `${f(report.textEncodeS, 3)} s`],
  ["sampler step (median)", `${f(stepS)} s  (U-Net ${f(report.unetGflops, 1)} GFLOP/s effective)`],
  ["VAE decode", `${f(decodeS)} s  (${f(report.vaeGflops, 1)} GFLOP/s effective)`],
  [
    "peak RSS",
    `${f(rssMb, 0)} MiB` +
      (report.peakRssByStageMb
        ? ` (encode+denoise ${f(report.peakRssByStageMb.encodeAndDenoise, 0)}, decode ${f(report.peakRssByStageMb.decode, 0)})`
        : ""),
  ],
  [
    "RSS anon / file (sampled)",
    Object.entries(report.rssSplitMb ?? {})
      .map(([k, v]) => `${k} ${f(v.anon, 0)} / ${f(v.file, 0)}`)
      .join(", ") || "-",
  ],
  [
    "per CPU-second",
    `U-Net ${f(report.unetGflopsPerCpuS, 1)}, VAE ${f(report.vaeGflopsPerCpuS, 1)} GFLOP/s (CPU s: encode ${f(report.cpuSeconds?.encode)}, denoise ${f(report.cpuSeconds?.denoise)}, decode ${f(report.cpuSeconds?.decode)})`,
  ],
];
if (report.stepShares)
  rows.push([
    "step time by op",
    Object.entries(report.stepShares)
      .map(([k, v]) => `${k} ${pct(v)}`)
      .join(", "),
  ]);
if (report.decodeShares)
  rows.push([
    "decode time by op",
    Object.entries(report.decodeShares)
      .map(([k, v]) => `${k} ${pct(v)}`)
      .join(", "),
  ]);
if (report.scaling) {
  const s = report.scaling;
  rows.push([
    `threads 1 -> ${threads}`,
    `step ${f(s.step1S)} -> ${f(stepS)} s (x${f(s.stepSpeedup)}), decode ${f(s.decode1S)} -> ${f(decodeS)} s (x${f(s.decodeSpeedup)})`,
  ]);
}
const w = Math.max(...rows.map((r) => r[0].length));
for (const [k, v] of rows) console.log(`${k.padEnd(w)}  ${v}`);
console.log(JSON.stringify(report));
