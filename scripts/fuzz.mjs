#!/usr/bin/env node
// Builds the libFuzzer targets in fuzz/ with clang (ASan+UBSan, libFuzzer
// coverage) into build-fuzz/ and runs each for a bounded time. Fails on any
// crash, sanitizer report, leak, timeout or over-limit allocation, keeping the
// offending input under build-fuzz/artifacts/. Prints a table and one JSON
// line ("fuzz-results ...") with executions and time per target.
//
//   node scripts/fuzz.mjs [--seconds N] [--targets a,b] [--build-only | --no-build] [--make-seeds]
//   env: SD_FUZZ_SECONDS (default 30), SD_FUZZ_BUILD_DIR (default build-fuzz),
//        SD_FUZZ_CI=1 (a repeatable run for CI: each target starts from the committed
//        seeds only and runs its fixed ciRuns executions with -seed=SD_FUZZ_SEED
//        (default 1); SD_FUZZ_SECONDS then only caps a slow machine),
//        SD_FUZZ_VERBOSE=1 (targets print each typed rejection; for checking seeds),
//        SD_FIXTURES_DIR (the config target loads tiny-sd1 from it)
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { buildDir, configureFuzzBuild, fixtures, root, runner } from "./fuzz-build.mjs";

const argv = process.argv.slice(2);
const flag = (name) => argv.includes(name);
const option = (name) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
const seconds = Number(option("--seconds") ?? process.env.SD_FUZZ_SECONDS ?? 30);
if (!Number.isFinite(seconds) || seconds <= 0) {
  console.error("fuzz: --seconds must be a positive number");
  process.exit(2);
}
const corpusRoot = join(root, "fuzz", "corpus");

// Largest input per target: far above any seed, small enough that every
// execution stays fast. Allocation limits apply to every target alike.
// ciRuns: executions in CI mode, 9-13 s each on a 2-core x86-64 machine (16-31 s under heavy load).
const TARGETS = {
  json: { maxLen: 65536, ciRuns: 120_000 },
  safetensors: { maxLen: 65536, ciRuns: 90_000 },
  zip: { maxLen: 65536, ciRuns: 300_000 },
  pickle: { maxLen: 65536, ciRuns: 130_000 },
  ckpt: { maxLen: 65536, ciRuns: 90_000 },
  gguf: { maxLen: 65536, ciRuns: 200_000 },
  config: { maxLen: 16384, ciRuns: 60_000 },
};
const ci = process.env.SD_FUZZ_CI === "1";
const fuzzSeed = Number(process.env.SD_FUZZ_SEED ?? 1);
const RSS_LIMIT_MB = 2048; // ASan shadow memory included
const MALLOC_LIMIT_MB = 256; // any single allocation above this from a <=64 KiB input is a finding
const TIMEOUT_S = 10; // per input

const run = runner("fuzz");

function build(targets) {
  configureFuzzBuild(run);
  run("cmake", [
    "--build",
    buildDir,
    "--parallel",
    String(availableParallelism()),
    "--target",
    ...targets.map((t) => `fuzz_${t}`),
    ...(flag("--make-seeds") ? ["make_seeds"] : []),
  ]);
}

function stat(output, key) {
  const m = output.match(new RegExp(`stat::${key}:\\s+(\\d+)`));
  return m ? Number(m[1]) : null;
}

function fuzzOne(name) {
  // The config target binds configs against the tiny SD1 model's weights.
  if (name === "config" && !existsSync(join(fixtures, "tiny-sd1", "diffusers"))) {
    return { target: name, ok: true, skipped: `no tiny-sd1 fixture under ${fixtures}` };
  }
  const workCorpus = join(buildDir, "corpus", name);
  const artifacts = join(buildDir, "artifacts");
  if (ci) rmSync(workCorpus, { recursive: true, force: true }); // same start on every run
  mkdirSync(workCorpus, { recursive: true });
  mkdirSync(artifacts, { recursive: true });
  const seeds = join(corpusRoot, name);
  const before = new Set(readdirSync(artifacts));
  const started = process.hrtime.bigint();
  // New inputs go to the first (build-dir) corpus; the committed seeds are read only.
  const res = spawnSync(
    join(buildDir, `fuzz_${name}`),
    [
      `-max_total_time=${seconds}`,
      ...(ci ? [`-runs=${TARGETS[name].ciRuns}`, `-seed=${fuzzSeed}`, "-reload=0"] : []),
      `-max_len=${TARGETS[name].maxLen}`,
      `-rss_limit_mb=${RSS_LIMIT_MB}`,
      `-malloc_limit_mb=${MALLOC_LIMIT_MB}`,
      `-timeout=${TIMEOUT_S}`,
      "-print_final_stats=1",
      `-artifact_prefix=${artifacts}/${name}-`,
      workCorpus,
      ...(existsSync(seeds) ? [seeds] : []),
    ],
    {
      cwd: root,
      encoding: "utf8",
      maxBuffer: 256 << 20,
      env: {
        ...process.env,
        ASAN_OPTIONS: "detect_leaks=1:allocator_may_return_null=0:abort_on_error=0",
        UBSAN_OPTIONS: "print_stacktrace=1:halt_on_error=1",
      },
    },
  );
  const wall = Number(process.hrtime.bigint() - started) / 1e9;
  const output = `${res.stdout ?? ""}${res.stderr ?? ""}`;
  const found = readdirSync(artifacts).filter((f) => !before.has(f));
  const ok = res.status === 0 && found.length === 0;
  if (!ok) {
    // The report: the sanitizer/libFuzzer text that explains the finding.
    const i = output.search(/==\d+==ERROR|runtime error|ERR_INTERNAL|unpickler accepted|deadly signal|libFuzzer: /);
    console.error(output.slice(i >= 0 ? Math.max(0, i - 2000) : -6000, i >= 0 ? i + 8000 : undefined));
  }
  return {
    target: name,
    ok,
    exit: res.status ?? res.signal,
    executions: stat(output, "number_of_executed_units"),
    seconds: Math.round(wall * 10) / 10,
    execPerSecond: stat(output, "average_exec_per_sec"),
    peakRssMb: stat(output, "peak_rss_mb"),
    corpus: readdirSync(workCorpus).length + (existsSync(seeds) ? readdirSync(seeds).length : 0),
    artifacts: found.map((f) => join(artifacts, f)),
  };
}

const chosen = option("--targets")?.split(",") ?? Object.keys(TARGETS);
for (const t of chosen) {
  if (!TARGETS[t]) {
    console.error(`fuzz: unknown target "${t}" (known: ${Object.keys(TARGETS).join(", ")})`);
    process.exit(2);
  }
}
if (!flag("--no-build")) build(chosen);
if (flag("--make-seeds")) {
  for (const t of Object.keys(TARGETS)) rmSync(join(corpusRoot, t), { recursive: true, force: true });
  run(join(buildDir, "make_seeds"), [corpusRoot]);
  console.log(`fuzz: seeds written to ${corpusRoot}`);
}
if (flag("--build-only")) process.exit(0);

const results = chosen.map(fuzzOne);
const pad = (s, n) => String(s).padEnd(n);
console.log(
  `\n${pad("target", 13)}${pad("executions", 12)}${pad("seconds", 9)}${pad("exec/s", 9)}${pad("corpus", 8)}${pad("rss MB", 8)}result`,
);
for (const r of results) {
  console.log(
    `${pad(r.target, 13)}${pad(r.executions ?? "-", 12)}${pad(r.seconds ?? "-", 9)}${pad(r.execPerSecond ?? "-", 9)}${pad(r.corpus ?? "-", 8)}${pad(r.peakRssMb ?? "-", 8)}${r.skipped ? `skipped (${r.skipped})` : r.ok ? "ok" : `FAILED (exit ${r.exit}) ${r.artifacts.join(" ")}`}`,
  );
}
console.log(
  `fuzz-results ${JSON.stringify({ secondsPerTarget: seconds, ...(ci ? { ci: true, seed: fuzzSeed } : {}), results })}`,
);
if (results.some((r) => !r.ok)) process.exit(1);
