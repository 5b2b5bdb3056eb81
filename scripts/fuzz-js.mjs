#!/usr/bin/env node
// Mutation fuzzing of the TypeScript input parsers (fuzz/js/targets.ts): the
// initImage/mask decoders (pngjs, jpeg-js, PNG text chunks), the prompt syntax
// and the CLIP tokenizer. No coverage instrumentation: seeds from
// fuzz/corpus/<target>/ are mutated at random (byte edits, splices, PNG chunk
// CRC repair, prompt-syntax tokens), and inputs that end in a new way (a new
// error message) join the corpus. Each target runs in a child process so a
// hang is caught by the parent. Targets may return a short description of
// the result, which counts as an outcome too. Findings: any exception other than SdError, a
// slow input, an allocation the input size does not justify, a hang.
//
//   node scripts/fuzz-js.mjs [--seconds N] [--targets image,prompt,tokenizer] [--make-seeds]
//   env: SD_FUZZ_SECONDS (default 30), SD_FUZZ_BUILD_DIR (default build-fuzz),
//        SD_FUZZ_SEED + SD_FUZZ_RUNS (a repeatable run of RUNS executions per target,
//        SD_FUZZ_SECONDS then only a cap), SD_FUZZ_CI=1 (the CI setting: fixed runs per
//        target, seed SD_FUZZ_SEED or 1), SD_CLIP_VOCAB (default ../shared/clip/bpe_simple_vocab_16e6.txt.gz)
import { spawnSync } from "node:child_process";
import {
  accessSync,
  constants,
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const argv = process.argv.slice(2);
const option = (name) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
const seconds = Number(option("--seconds") ?? process.env.SD_FUZZ_SECONDS ?? 30);
const buildDir = join(root, process.env.SD_FUZZ_BUILD_DIR ?? "build-fuzz");
const jsDir = join(buildDir, "js");
const bundle = join(jsDir, "targets.mjs");
const corpusRoot = join(root, "fuzz", "corpus");
const vocab = resolve(root, process.env.SD_CLIP_VOCAB ?? "../shared/clip/bpe_simple_vocab_16e6.txt.gz");

const TARGETS = ["image", "prompt", "tokenizer"];
// SD_FUZZ_CI=1: executions per target (about 10 s each on a 2-core machine) with
// SD_FUZZ_SEED (default 1), so CI runs the same inputs every time.
const CI_RUNS = { image: 40_000, prompt: 6_000, tokenizer: 50_000 };
const ci = process.env.SD_FUZZ_CI === "1";
const MAX_LEN = 65536;
const SLOW_MS = 5000; // one input taking longer than this is a finding
// Decoding may legitimately expand data (deflate tops out near 1032:1), so an
// input may allocate up to 2048x its size, and 64 MiB whatever its size.
const allocBudget = (len) => Math.max(64 << 20, 2048 * len);

// ---------------------------------------------------------------- mutation
// SD_FUZZ_SEED makes the mutations a fixed sequence (mulberry32), so that with
// SD_FUZZ_RUNS a run is exactly repeatable (CI); otherwise Math.random.
function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}
const random = process.env.SD_FUZZ_SEED ? mulberry32(Number(process.env.SD_FUZZ_SEED)) : Math.random;
const rand = (n) => Math.floor(random() * n);
// SD_FUZZ_RUNS: executions per target; the time budget then only caps a slow machine.
const runs = Number(process.env.SD_FUZZ_RUNS ?? Number.POSITIVE_INFINITY);
const PROMPT_TOKENS = [
  "(",
  ")",
  "[",
  "]",
  ":",
  "\\",
  "BREAK",
  "AND",
  ",",
  " ",
  "<lora:",
  ">",
  ":1.5",
  ":-2",
  ":1e308",
  ":nan",
  "<|startoftext|>",
  "<|endoftext|>",
  "&amp;",
  "&#x1F600;",
  "&",
  "\u00c3\u00a9",
  "\u00e2\u20ac\u2122",
  "\u0301",
  "\ud83d\ude00",
  "\ud800",
  "\u200b",
  "\u0085",
  "\ufeff",
  "\u3000",
  "a".repeat(300),
  "1234567890",
  "'s",
  "'ll",
];
const INTERESTING = [0x00, 0x01, 0x7f, 0x80, 0xff, 0xfe, 0x10, 0x40];

function crc32Table() {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
}
const CRC = crc32Table();
function crc32(b, start, end) {
  let c = 0xffffffff;
  for (let i = start; i < end; i++) c = CRC[(c ^ b[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
// Rewrites every PNG chunk CRC so mutations reach past pngjs's CRC check.
function fixPngCrcs(b) {
  if (b.length < 8 || b[0] !== 0x89 || b[1] !== 0x50) return b;
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let p = 8;
  while (p + 12 <= b.length) {
    const len = dv.getUint32(p);
    if (len > b.length - p - 12) break;
    dv.setUint32(p + 8 + len, crc32(b, p + 4, p + 8 + len));
    p += 12 + len;
  }
  return b;
}

function mutate(input, corpus, target) {
  let b = Array.from(input);
  const rounds = 1 + rand(4);
  for (let r = 0; r < rounds; r++) {
    const op = rand(target === "image" ? 8 : 9);
    const at = rand(b.length + 1);
    switch (op) {
      case 0: // flip a bit
        if (b.length) b[rand(b.length)] ^= 1 << rand(8);
        break;
      case 1: // set an interesting byte
        if (b.length) b[rand(b.length)] = INTERESTING[rand(INTERESTING.length)];
        break;
      case 2: // random bytes in
        b.splice(at, 0, ...Array.from({ length: 1 + rand(8) }, () => rand(256)));
        break;
      case 3: // delete a range
        b.splice(rand(b.length), 1 + rand(Math.max(1, b.length >> 3)));
        break;
      case 4: {
        // duplicate a range
        const s = rand(b.length);
        b.splice(at, 0, ...b.slice(s, s + 1 + rand(64)));
        break;
      }
      case 5: {
        // splice with another corpus entry
        const o = corpus[rand(corpus.length)];
        const s = rand(o.length);
        b = b.slice(0, at).concat(Array.from(o.subarray(s, s + 1 + rand(256))), b.slice(at));
        break;
      }
      case 6: {
        // overwrite 4 bytes with a big-endian extreme (PNG/JPEG sizes)
        const v = [0xffffffff, 0x7fffffff, 0x10000, 0xffff, 0x4000, 0, 1][rand(7)];
        const p = rand(Math.max(1, b.length - 3));
        for (let i = 0; i < 4 && p + i < b.length; i++) b[p + i] = (v >>> (24 - 8 * i)) & 0xff;
        break;
      }
      case 7: // truncate
        b = b.slice(0, rand(b.length + 1));
        break;
      default: {
        // insert a prompt-syntax token
        const tok = Buffer.from(PROMPT_TOKENS[rand(PROMPT_TOKENS.length)]);
        b.splice(at, 0, ...tok);
      }
    }
  }
  if (b.length > MAX_LEN) b.length = MAX_LEN;
  const out = Uint8Array.from(b);
  return target === "image" && rand(2) ? fixPngCrcs(out) : out;
}

// ---------------------------------------------------------------- child
async function child(target) {
  const mod = await import(pathToFileURL(bundle).href);
  if (target !== "image") await mod.setup(vocab);
  const fn = target === "image" ? mod.image : target === "prompt" ? mod.prompt : mod.tokenizer_;
  const seedDir = join(corpusRoot, target);
  const corpus = readdirSync(seedDir).map((f) => new Uint8Array(readFileSync(join(seedDir, f))));
  if (corpus.length === 0) throw new Error(`no seeds in ${seedDir}`);
  const current = process.env.SD_FUZZ_CURRENT;
  const outcomes = new Set();
  const deadline = Date.now() + seconds * 1000;
  let execs = 0;
  let i = 0;
  const finding = (kind, input, detail) => {
    const path = join(jsDir, `${kind}-${target}-${Date.now()}`);
    writeFileSync(path, input);
    console.log(JSON.stringify({ finding: kind, target, input: path, detail }));
    process.exit(1);
  };
  while (execs < runs && Date.now() < deadline) {
    // Seeds first, unmodified; then mutations.
    const input = i < corpus.length ? corpus[i] : mutate(corpus[rand(corpus.length)], corpus, target);
    i++;
    writeFileSync(current, input);
    const ab0 = process.memoryUsage().arrayBuffers;
    const t0 = performance.now();
    let outcome;
    try {
      outcome = `ok:${(await fn(input)) ?? ""}`;
    } catch (err) {
      if (!(err instanceof mod.SdError)) finding("crash", input, String(err?.stack ?? err));
      outcome = `${err.code}:${String(err.message)
        .replace(/[0-9]+/g, "#")
        .slice(0, 60)}`;
    }
    const ms = performance.now() - t0;
    const grown = process.memoryUsage().arrayBuffers - ab0;
    if (ms > SLOW_MS) finding("slow", input, `${Math.round(ms)} ms`);
    if (grown > allocBudget(input.length))
      finding("alloc", input, `${(grown / 2 ** 20).toFixed(0)} MiB for ${input.length} bytes`);
    execs++;
    if (!outcomes.has(outcome) && corpus.length < 2000) {
      outcomes.add(outcome);
      corpus.push(input);
    }
  }
  console.log(JSON.stringify({ done: true, executions: execs, corpus: corpus.length, outcomes: outcomes.size }));
}

// ---------------------------------------------------------------- seeds
async function makeSeeds() {
  const { PNG } = await import("pngjs");
  const jpeg = (await import("jpeg-js")).default;
  const dir = join(corpusRoot, "image");
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const pixels = (w, h) => {
    const d = Buffer.alloc(w * h * 4);
    for (let i = 0; i < d.length; i++) d[i] = (i * 37) & 0xff;
    return d;
  };
  const pngs = [
    ["rgb8", 5, 3, { colorType: 2 }],
    ["rgba8", 4, 4, { colorType: 6 }],
    ["gray8", 3, 5, { colorType: 0 }],
    ["graya8", 2, 2, { colorType: 4 }],
    ["rgba16", 3, 2, { colorType: 6, bitDepth: 16 }],
  ];
  for (const [name, w, h, opts] of pngs) {
    const png = new PNG({ width: w, height: h });
    png.data = pixels(w, h);
    writeFileSync(join(dir, `${name}.png`), PNG.sync.write(png, opts));
  }
  for (const [name, w, h, q] of [
    ["q90", 9, 7, 90],
    ["q10_16x16", 16, 16, 10],
  ]) {
    writeFileSync(join(dir, `${name}.jpg`), jpeg.encode({ data: pixels(w, h), width: w, height: h }, q).data);
  }
  const prompts = {
    plain: "a photo of an astronaut riding a horse on mars, highly detailed",
    attention: "a (red:1.3) [[cat]] ((on a)) mat, (blue sky:0.5) \\(escaped\\) BREAK second chunk",
    lora: "portrait <lora:film_grain:0.7> of a woman, <lora:x:1> bokeh",
    unbalanced: "(((a [b (c:1.2 ]] d)) e:",
    unicode: "caf\u00e9 \u00c3\u00a9 \u6771\u4eac \ud83d\ude00 &amp; &lt;tag&gt; don't we'll <|endoftext|>",
    long: Array.from({ length: 120 }, (_, i) => `word${i}`).join(", "),
  };
  for (const t of ["prompt", "tokenizer"]) {
    const d = join(corpusRoot, t);
    rmSync(d, { recursive: true, force: true });
    mkdirSync(d, { recursive: true });
    for (const [name, text] of Object.entries(prompts)) writeFileSync(join(d, name), text);
  }
}

// ---------------------------------------------------------------- parent
function onTmpfs() {
  try {
    accessSync("/dev/shm", constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

async function bundleTargets() {
  const esbuild = await import("esbuild");
  mkdirSync(jsDir, { recursive: true });
  await esbuild.build({
    entryPoints: [join(root, "fuzz", "js", "targets.ts")],
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    packages: "external",
    outfile: bundle,
    logLevel: "warning",
  });
}

async function main() {
  if (argv[0] === "--child") return child(argv[1]);
  if (argv.includes("--make-seeds")) {
    await makeSeeds();
    console.log(`fuzz-js: seeds written under ${corpusRoot}`);
    return;
  }
  const chosen = option("--targets")?.split(",") ?? TARGETS;
  for (const t of chosen) {
    if (!TARGETS.includes(t)) throw new Error(`unknown target "${t}" (known: ${TARGETS.join(", ")})`);
  }
  await bundleTargets();
  const results = [];
  for (const target of chosen) {
    if (target !== "image" && !existsSync(vocab)) {
      results.push({ target, ok: true, skipped: `no CLIP vocabulary at ${vocab}` });
      continue;
    }
    // The input being run, rewritten before every execution: on tmpfs where
    // possible (a disk write would cost more than most executions).
    const current = join(onTmpfs() ? "/dev/shm" : jsDir, `sd-fuzz-js-${process.pid}-${target}`);
    const t0 = process.hrtime.bigint();
    // Grace period past the fuzzing time: setup plus one slow input.
    const res = spawnSync(process.execPath, [fileURLToPath(import.meta.url), "--child", target], {
      cwd: root,
      encoding: "utf8",
      env: {
        ...process.env,
        SD_FUZZ_SECONDS: String(seconds),
        SD_FUZZ_CURRENT: current,
        ...(ci ? { SD_FUZZ_RUNS: String(CI_RUNS[target]), SD_FUZZ_SEED: process.env.SD_FUZZ_SEED ?? "1" } : {}),
      },
      timeout: (seconds + 60) * 1000,
      maxBuffer: 64 << 20,
    });
    const wall = Math.round(Number(process.hrtime.bigint() - t0) / 1e8) / 10;
    const lines = (res.stdout ?? "")
      .trim()
      .split("\n")
      .filter((l) => l.startsWith("{"));
    const last = lines.length ? JSON.parse(lines[lines.length - 1]) : {};
    let ok = res.status === 0 && last.done === true;
    let finding = last.finding ? `${last.finding}: ${last.input} ${last.detail}` : undefined;
    if (res.error?.code === "ETIMEDOUT" || res.signal) {
      ok = false;
      const kept = join(jsDir, `hang-${target}-${Date.now()}`);
      copyFileSync(current, kept);
      finding = `hang: input kept in ${kept}`;
    } else if (!ok && !finding) {
      finding = `exit ${res.status}: ${(res.stderr ?? "").slice(-2000)}`;
    }
    rmSync(current, { force: true });
    results.push({
      target,
      ok,
      executions: last.executions ?? null,
      seconds: wall,
      execPerSecond: last.executions ? Math.round(last.executions / wall) : null,
      corpus: last.corpus ?? null,
      ...(finding ? { finding } : {}),
    });
  }
  const pad = (s, n) => String(s).padEnd(n);
  console.log(
    `\n${pad("target", 13)}${pad("executions", 12)}${pad("seconds", 9)}${pad("exec/s", 9)}${pad("corpus", 8)}result`,
  );
  for (const r of results) {
    const status = r.skipped ? `skipped (${r.skipped})` : r.ok ? "ok" : `FAILED ${r.finding}`;
    console.log(
      `${pad(r.target, 13)}${pad(r.executions ?? "-", 12)}${pad(r.seconds ?? "-", 9)}${pad(r.execPerSecond ?? "-", 9)}${pad(r.corpus ?? "-", 8)}${status}`,
    );
  }
  const mode = ci ? { ci: true, seed: Number(process.env.SD_FUZZ_SEED ?? 1) } : {};
  console.log(`fuzz-js-results ${JSON.stringify({ secondsPerTarget: seconds, ...mode, results })}`);
  if (results.some((r) => !r.ok)) process.exit(1);
}

await main();
