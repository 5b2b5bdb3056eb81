// Regenerates the figures of docs/reliability.md: runs the fuzzers in their
// repeatable CI mode (scripts/fuzz.mjs, scripts/fuzz-js.mjs: one JSON line
// each) and the stress tests (test/stress-*.test.ts with SD_STRESS_FIGURES=1:
// one "stress-figures" JSON line per figure), then prints markdown tables.
//
// Usage: node bench/reliability.mjs [--no-fuzz] [--no-stress] [--from LOG ...]
//   --from LOG  read fuzz-results / fuzz-js-results / stress-figures lines from
//               existing logs (e.g. a scripts/ci-reliability.sh log) instead of running
//               the fuzzers again; stress figures still run unless --no-stress.
// Env as for the scripts (SD_FUZZ_BUILD_DIR, SD_FUZZ_SEED, ...). Needs clang with
// libFuzzer for the native targets and the built addon for the stress tests.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";

const root = join(import.meta.dirname, "..");
const { values: args } = parseArgs({
  options: {
    "no-fuzz": { type: "boolean", default: false },
    "no-stress": { type: "boolean", default: false },
    from: { type: "string", multiple: true, default: [] },
  },
});

/** Runs a command, echoing its output to stderr; returns stdout + stderr. */
function run(cmd, argv, env = {}) {
  const res = spawnSync(cmd, argv, {
    cwd: root,
    encoding: "utf8",
    env: { ...process.env, ...env },
    maxBuffer: 256 << 20,
  });
  const out = `${res.stdout ?? ""}${res.stderr ?? ""}`;
  process.stderr.write(out.slice(-4000));
  if (res.status !== 0) console.error(`reliability: ${cmd} ${argv.join(" ")} exited with ${res.status}`);
  return out;
}

/** The JSON payloads of the lines starting with `tag `. */
function tagged(text, tag) {
  // Anywhere in the line: vitest prefixes console output with colour codes.
  return text
    .split("\n")
    .map((l) => (l.indexOf(`${tag} {`) >= 0 ? l.slice(l.indexOf(`${tag} {`) + tag.length + 1).trim() : ""))
    .filter((json) => json !== "")
    .map((json) => JSON.parse(json));
}

let text = args.from.map((f) => readFileSync(f, "utf8")).join("\n");
if (!args["no-fuzz"] && args.from.length === 0) {
  text += run("node", ["scripts/fuzz.mjs"], { SD_FUZZ_CI: "1", SD_FUZZ_SECONDS: "90" });
  text += run("node", ["scripts/fuzz-js.mjs"], { SD_FUZZ_CI: "1", SD_FUZZ_SECONDS: "90" });
}
if (!args["no-stress"]) {
  // --reporter=verbose keeps the tests' console lines in the output.
  text += run("npx", ["vitest", "run", "--reporter=verbose", "test/stress-"], { SD_STRESS_FIGURES: "1" });
}

const num = (v) => (typeof v === "number" ? v.toLocaleString("en-US") : "-");
const mb = (v) => (typeof v === "number" ? v.toFixed(1) : "-");
const lines = [`Machine: ${cpus().length} x ${cpus()[0]?.model ?? "?"}, Node ${process.versions.node}.`, ""];

const native = tagged(text, "fuzz-results").at(-1);
if (native) {
  lines.push(
    `Native fuzz targets (${native.ci ? `CI mode, seed ${native.seed}` : `${native.secondsPerTarget} s each`}):`,
    "",
    "| target | executions | seconds | exec/s | corpus | peak RSS MB | result |",
    "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
  );
  for (const r of native.results) {
    const result = r.skipped ? `skipped (${r.skipped})` : r.ok ? "ok" : `FAILED ${r.artifacts?.join(" ") ?? ""}`;
    lines.push(
      `| ${r.target} | ${num(r.executions)} | ${r.seconds ?? "-"} | ${num(r.execPerSecond)} | ${num(r.corpus)} | ${num(r.peakRssMb)} | ${result} |`,
    );
  }
  lines.push("");
}
const js = tagged(text, "fuzz-js-results").at(-1);
if (js) {
  lines.push(
    `JS fuzz targets (${js.ci ? `CI mode, seed ${js.seed}` : `${js.secondsPerTarget} s each`}):`,
    "",
    "| target | executions | seconds | exec/s | corpus | result |",
    "| --- | ---: | ---: | ---: | ---: | --- |",
  );
  for (const r of js.results) {
    const result = r.skipped ? `skipped (${r.skipped})` : r.ok ? "ok" : `FAILED ${r.finding ?? ""}`;
    lines.push(
      `| ${r.target} | ${num(r.executions)} | ${r.seconds ?? "-"} | ${num(r.execPerSecond)} | ${num(r.corpus)} | ${result} |`,
    );
  }
  lines.push("");
}

const stress = new Map(tagged(text, "stress-figures").map((f) => [f.name, f]));
if (stress.size > 0) {
  lines.push("Stress tests (tiny-sd1, 64x64, 1 compute thread):", "", "| test | figures |", "| --- | --- |");
  const g = stress.get("generate-100");
  if (g)
    lines.push(
      `| 100 generate() calls | RSS ${mb(g.rssBeforeMb)} -> ${mb(g.rssAfterMb)} MB (growth ${mb(g.growthMb)} MB, limit 20), ${mb(g.seconds)} s |`,
    );
  const l = stress.get("load-dispose-50");
  if (l)
    lines.push(
      `| 50 loadModel/dispose cycles | RSS ${mb(l.rssBeforeMb)} -> ${mb(l.rssAfterMb)} MB (growth ${mb(l.growthMb)} MB, limit 20), ${mb(l.seconds)} s |`,
    );
  const a = stress.get("abort-storm");
  if (a) {
    const hit = Object.entries(a.stagesHit)
      .map(([k, v]) => `${k} ${v}`)
      .join(", ");
    lines.push(
      `| abort storm | ${a.rejectedAbortErr}/${a.calls} rejected with ABORT_ERR, ${a.otherOutcomes} other outcomes; aborted at: ${hit}; RSS growth ${mb(a.growthMb)} MB; same image after: ${a.sameImageAfter ? "yes" : "no"}; ${mb(a.seconds)} s |`,
    );
  }
  const c = stress.get("concurrency");
  if (c)
    lines.push(
      `| concurrency | ${c.calls} interleaved calls on ${c.models} models, ${c.mismatches} differ from the same call alone, ${mb(c.seconds)} s |`,
    );
  const w = stress.get("worker-terminate");
  if (w)
    lines.push(
      `| Worker terminated at denoise step 2 of 30 | main thread generated the right image during and after; the Worker exited ${mb(w.exitSeconds)} s after terminate() (its native call runs to its end); RSS growth ${mb(w.rssGrowthMb)} MB |`,
    );
  const m = stress.get("memory-estimate");
  if (m) lines.push(`| 4096x4096 x 16 over a 256 MB budget | ERR_OUT_OF_MEMORY after ${mb(m.refusedMs)} ms |`);
  lines.push("");
}
console.log(lines.join("\n"));
