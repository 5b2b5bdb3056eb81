// A child process for test/stress-limits.test.ts, talking to the native addon
// directly (as lib/native.ts loads it) and printing one JSON line:
//   load <file>   loadModel(file): { ok } or { code, message } (run as another user for EACCES)
//   oom <model>   caps its own address space (prlimit) at what it uses now + 512 MB, asks for
//                 4096x4096 x 16 images with CFG (GBs of activations, no lib-side estimate on
//                 this path), then a small image: { big: {code, message}, small: {ok, width} }
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
const addon = require(require("node-gyp-build").path(join(dirname(fileURLToPath(import.meta.url)), "..", "..")));
const [mode, file] = process.argv.slice(2);
const outcome = (p) =>
  p.then(
    (r) => ({ ok: true, width: r?.images?.[0]?.width }),
    (e) => ({ code: e?.code, message: String(e?.message ?? e) }),
  );

if (mode === "load") {
  console.log(JSON.stringify(await outcome(addon.loadModel(file, {}))));
} else if (mode === "oom") {
  const model = await addon.loadModel(file, {});
  // BOS, then EOS as padding: an empty prompt.
  const ids = new Int32Array(77).fill(49407);
  ids[0] = 49406;
  const tokens = { ids, weights: new Float32Array(77).fill(1) };
  const params = (size, batchSize) => ({
    ...{ prompt: tokens, negativePrompt: tokens, width: size, height: size, steps: 1, cfgScale: 7, batchSize },
    ...{ sampler: "euler", scheduler: "discrete", seed: 1, rng: "cpu", clipSkip: 1, strength: 0.75 },
    ...{ previewEvery: 0, threads: 1 },
  });
  const run = (size, batch) => outcome(model.generate(params(size, batch), () => {}).promise);
  const warm = await run(64, 1);
  const vmKb = Number(/VmSize:\s*(\d+)/.exec(readFileSync("/proc/self/status", "utf8"))?.[1]);
  const cap = spawnSync("prlimit", ["--pid", String(process.pid), `--as=${(vmKb + 512 * 1024) * 1024}`]);
  if (cap.status !== 0) {
    console.log(JSON.stringify({ skipped: `prlimit failed: ${cap.stderr}` }));
    process.exit(0);
  }
  const big = await run(4096, 16);
  const small = await run(64, 1);
  console.log(JSON.stringify({ warm, big, small }));
}
