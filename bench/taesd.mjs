// Full VAE vs TAESD decode of one image, through the public API, on the random-weight SD 1.5
// checkpoint (bench/generate.mjs's, exact SD 1.5 layout) and a random-weight TAESD of the real
// layout (bench/make-random-taesd.mjs). Each run generates with 1 step and cfgScale 1 (one U-Net
// evaluation), then decodes with the VAE or the TAESD; the decode's wall time and CPU seconds
// (engine clock, SD_NATIVE_OP_TIMERS=1) are kept. Best of --runs for each, alternating.
//
// Usage: npx tsup && node bench/taesd.mjs [--size 512] [--runs 3] [--threads 2]
//          [--checkpoint FILE] [--taesd FILE]
// Prints a table, then one JSON line.
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { BENCH_CACHE, CLIP, importLib, ROOT, SD15_CHECKPOINT, vaeDecoderGmac } from "./common.mjs";

const { values: args } = parseArgs({
  options: {
    size: { type: "string", default: "512" },
    runs: { type: "string", default: "3" },
    threads: { type: "string", default: "2" },
    checkpoint: { type: "string" },
    taesd: { type: "string" },
  },
});
const size = Number(args.size);
const runs = Number(args.runs);
const threads = Number(args.threads);
if (!(size >= 64 && size % 64 === 0) || !(runs >= 1) || !(threads >= 1)) {
  console.error("bench: --size must be a multiple of 64, --runs and --threads >= 1");
  process.exit(2);
}

const checkpoint = args.checkpoint ?? SD15_CHECKPOINT;
if (!existsSync(checkpoint)) {
  console.error(`bench: ${checkpoint} is missing: run bench/generate.mjs once (it writes it) or pass --checkpoint`);
  process.exit(2);
}
let taesd = args.taesd;
if (!taesd) {
  const dir = join(BENCH_CACHE, "taesd-random");
  taesd = join(dir, "taesd_decoder.safetensors");
  if (!existsSync(taesd))
    execFileSync(process.execPath, [join(ROOT, "bench", "make-random-taesd.mjs"), "--out", dir], { stdio: "inherit" });
}

// Multiply-accumulates of each decoder (GMAC), counted from the layer lists (the VAE's: bench/common.mjs).
function taesdDecoderGmac(px) {
  // conv 4->64, then per level (latent, x2, x4, x8) 3,3,3,1 blocks of three 64->64 3x3 convs, an upsample
  // conv after the first three levels, conv 64->3 at full size.
  const c64 = 64 * 64 * 9;
  let hw = (px / 8) ** 2;
  let macs = 4 * 64 * 9 * hw;
  [3, 3, 3, 1].forEach((blocks, level) => {
    macs += 3 * blocks * c64 * hw;
    if (level < 3) {
      hw *= 4;
      macs += c64 * hw;
    }
  });
  return (macs + 64 * 3 * 9 * hw) / 1e9;
}

process.env.SD_NATIVE_OP_TIMERS = "1";
const lib = await importLib();
const model = await lib.loadModel(checkpoint, { threads, taesd, tokenizer: CLIP });
const best = { vae: { wallMs: Infinity, cpuS: Infinity }, taesd: { wallMs: Infinity, cpuS: Infinity } };
const opSeconds = {}; // decoder -> op family -> seconds, of its fastest run
try {
  for (let r = 0; r < runs; r++) {
    for (const decoder of ["vae", "taesd"]) {
      const { timings } = await model.generate({
        prompt: "a photograph of an astronaut riding a horse",
        width: size,
        height: size,
        steps: 1,
        cfgScale: 1,
        sampler: "euler",
        seed: 42,
        decoder,
      });
      const cpuS = timings.ops?.cpuSeconds?.decode ?? Number.NaN;
      console.error(
        `run ${r + 1}/${runs} ${decoder}: ${(timings.vaeDecodeMs / 1000).toFixed(2)} s wall, ${cpuS.toFixed(2)} CPU s`,
      );
      if (timings.vaeDecodeMs < best[decoder].wallMs) opSeconds[decoder] = timings.ops?.decode;
      best[decoder].wallMs = Math.min(best[decoder].wallMs, timings.vaeDecodeMs);
      best[decoder].cpuS = Math.min(best[decoder].cpuS, cpuS);
    }
  }
} finally {
  await model.dispose();
}

const gmac = { vae: vaeDecoderGmac(size), taesd: taesdDecoderGmac(size) };
const report = {
  size,
  threads,
  runs,
  cpu: cpus()[0]?.model ?? "unknown",
  gmac,
  vae: { ...best.vae, gflopsPerCpuS: (2 * gmac.vae) / best.vae.cpuS, opSeconds: opSeconds.vae },
  taesd: { ...best.taesd, gflopsPerCpuS: (2 * gmac.taesd) / best.taesd.cpuS, opSeconds: opSeconds.taesd },
  speedupWall: best.vae.wallMs / best.taesd.wallMs,
  speedupCpu: best.vae.cpuS / best.taesd.cpuS,
};
const f = (x, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : "-");
console.log(`decode ${size}x${size}, ${threads} threads, best of ${runs} (${report.cpu})`);
console.log("decoder | GMAC | wall s | CPU s | GFLOP/CPU-s");
for (const d of ["vae", "taesd"]) {
  const b = report[d];
  console.log(`${d.padEnd(7)} | ${f(gmac[d], 0)} | ${f(b.wallMs / 1000)} | ${f(b.cpuS)} | ${f(b.gflopsPerCpuS, 1)}`);
}
for (const d of ["vae", "taesd"]) {
  const ops = Object.entries(report[d].opSeconds ?? {}).filter(([, sec]) => sec > 0);
  console.log(`${d} op seconds (fastest run): ${ops.map(([k, sec]) => `${k} ${f(sec)}`).join(", ")}`);
}
console.log(`TAESD speed-up: ${f(report.speedupWall, 1)}x wall, ${f(report.speedupCpu, 1)}x CPU`);
console.log(JSON.stringify(report));
