// The package on Windows: run by `node scripts/windows-tests.mjs --addon`
// with a Windows node.exe under Wine, against an addon cross-built with
// MinGW-w64 and loaded as a prebuild (prebuilds/win32-x64/), and its CLI. Not a vitest
// suite: vitest's toolchain (esbuild) has no Windows binary here. Exits 1 on
// the first failed check; prints one line per check.
//   node addon-smoke.mjs PACKAGE_DIR SHARED_DIR
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { closeSync, copyFileSync, mkdirSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const [pkg, shared] = process.argv.slice(2);
const { loadModel, convertModel } = await import(pathToFileURL(join(pkg, "dist", "index.js")).href);
const fixtures = join(shared, "fixtures", "tiny-sd1");
const options = { config: join(fixtures, "diffusers"), tokenizer: join(shared, "clip"), threads: 2 };
// A folder no ANSI code page can spell: the engine must take UTF-8 paths through the wide APIs.
const dir = join(tmpdir(), `sd-native-smoke-${process.pid}`, "Модель 模型 ☃");
mkdirSync(dir, { recursive: true });

async function check(name, fn) {
  try {
    await fn();
    console.log(`ok   ${name}`);
  } catch (err) {
    console.log(`FAIL ${name}\n${err?.stack ?? err}`);
    process.exitCode = 1;
  }
}

const modelPath = join(dir, "tiny ☃.safetensors");
copyFileSync(join(fixtures, "tiny-sd1.safetensors"), modelPath);
const lines = [];
const model = await loadModel(modelPath, { ...options, logger: (_level, msg) => lines.push(msg) });
const params = { prompt: "a lighthouse", width: 64, height: 64, steps: 3, seed: 7 };

await check("loads from a non-ASCII folder with SIMD kernels", () => {
  assert.equal(model.info.family, "sd1");
  assert.match(lines[0], /; (avx2|avx512) kernels$/);
});

await check("generates with ordered progress; the same seed gives the same bits", async () => {
  const steps = [];
  const a = await model.generate(params, { onProgress: (e) => e.stage === "denoise" && steps.push(e.step) });
  assert.deepEqual(steps, [0, 1, 2, 3]);
  const b = await model.generate(params);
  assert.equal(a.images[0].width, 64);
  assert.ok(Buffer.from(a.images[0].data).equals(Buffer.from(b.images[0].data)), "same seed, different pixels");
});

await check("an abort rejects with ABORT_ERR and the model stays usable", async () => {
  const ac = new AbortController();
  const err = await model
    .generate({ ...params, steps: 20 }, { signal: ac.signal, onProgress: (e) => e.step === 2 && ac.abort() })
    .catch((e) => e);
  assert.equal(err?.code, "ABORT_ERR");
  const again = await model.generate(params);
  assert.equal(again.images.length, 1);
});

await check("saves a PNG to a non-ASCII path", async () => {
  const out = join(dir, "вывод ☃.png");
  const r = await model.generate(params);
  await r.images[0].save(out);
  assert.ok(readFileSync(out).subarray(1, 4).equals(Buffer.from("PNG")));
});

await check("converts to GGUF in a non-ASCII folder and loads the result", async () => {
  const gguf = join(dir, "tiny ☃.q8_0.gguf");
  await convertModel(modelPath, gguf, { type: "q8_0" });
  const q = await loadModel(gguf, options);
  assert.equal(q.info.format, "gguf");
  const r = await q.generate(params);
  assert.equal(r.images[0].height, 64);
  await q.dispose();
});

await check("a missing file rejects with ERR_MODEL_NOT_FOUND", async () => {
  const err = await loadModel(join(dir, "missing ☃.safetensors"), options).catch((e) => e);
  assert.equal(err?.code, "ERR_MODEL_NOT_FOUND");
});

await check("the CLI generates into a non-ASCII path", () => {
  const out = join(dir, "cli ☃.png");
  const logPath = join(dir, "cli.log");
  const fd = openSync(logPath, "w"); // a file, not a pipe (see scripts/windows-tests.mjs)
  const r = spawnSync(
    process.execPath,
    [join(pkg, "dist", "cli.js"), "generate", "-m", modelPath, "-p", "a lighthouse", "-W", "64", "-H", "64"].concat([
      "--steps",
      "2",
      "--seed",
      "3",
      "--tokenizer",
      options.tokenizer,
      "--config",
      options.config,
      "-o",
      out,
    ]),
    { stdio: ["ignore", fd, fd], timeout: 300_000 },
  );
  closeSync(fd);
  assert.equal(r.status, 0, readFileSync(logPath, "utf8"));
  assert.ok(readFileSync(out).subarray(1, 4).equals(Buffer.from("PNG")));
});

await model.dispose();
rmSync(join(dir, ".."), { recursive: true, force: true });
console.log(process.exitCode ? "addon smoke: FAILED" : "addon smoke: all passed");
