#!/usr/bin/env node
// Runs the kernel tests through the AVX-512 code paths on a CPU without
// AVX-512: configures build-emul/ with SD_NATIVE_EMULATE_AVX512=ON (the
// *_avx512.cpp kernels compiled against SIMDe's portable AVX-512 F/BW/VL/DQ/
// VNNI/BF16 intrinsics, AVX2 flags only), builds only the kernel/op and model
// test executables, and runs them under SD_NATIVE_CPU=avx512, then the quant,
// bf16 and LoRA-on-quant tests under SD_NATIVE_CPU=avx2, where the emulated AVX-VNNI
// integer table (quant_avxvnni.cpp) is in use. It checks the kernels' logic
// (results against the scalar references), not their speed.
// Needs SIMDe headers (Debian: libsimde-dev; test-only, never a dependency).
//   --all: every engine test executable (~3 min of tests on 2 cores; found a
//          VNNI-only failure in test_lora_quant), not only the default set
//   env: SD_EMUL_BUILD_DIR  build directory (default build-emul)
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { configureTests, engineTests, jobs, root, runner } from "./test-build.mjs";

const buildDir = join(root, process.env.SD_EMUL_BUILD_DIR ?? "build-emul");
const run = runner("emulated-isa-tests");

// The emulated kernels are compiled for AVX2+FMA+F16C: a host without them
// (or not x86-64 Linux, where this is checked) cannot run them.
if (process.arch !== "x64") {
  console.log("emulated-isa-tests: not an x86-64 host, skipped");
  process.exit(0);
}
if (existsSync("/proc/cpuinfo")) {
  const flags = new Set(
    (readFileSync("/proc/cpuinfo", "utf8").match(/^flags\s*:(.*)$/m)?.[1] ?? "").trim().split(/\s+/),
  );
  if (!["avx2", "fma", "f16c"].every((f) => flags.has(f))) {
    console.log("emulated-isa-tests: this CPU lacks AVX2/FMA/F16C, skipped");
    process.exit(0);
  }
}

// The tests registered per CPU path (test/engine/CMakeLists.txt), the model
// tests (CLIP, U-Net, VAE against the reference fixtures), which then run
// every op of those models through the AVX-512 kernels, and precision "fast"
// end to end (the bf16 GEMM).
const all = process.argv.includes("--all");
// test_lora_quant picks a path without an exact-integer q8_0 GEMM, which the
// VNNI tables change. (test_neon_* exist only in arm64 builds.)
const isEmulatedTest = (name) =>
  !name.startsWith("test_neon") &&
  (all || /^test_(kernel|ops|model_)/.test(name) || name === "test_pipeline_fast" || name === "test_lora_quant");
const targets = engineTests(isEmulatedTest);

configureTests(run, buildDir, "Release", ["-DSD_NATIVE_EMULATE_AVX512=ON"]);
run("cmake", ["--build", buildDir, "--parallel", jobs, "--target", ...targets]);
// Each executable under SD_NATIVE_CPU=avx512; its exit 77 ("path not
// supported", a skip under ctest) fails here: the emulation was not in effect.
let failed = 0;
function runUnder(cpu, label, name) {
  console.log(`\n=== emulated ${label}: ${name}`);
  try {
    execFileSync(join(buildDir, "test", "engine", name), [], {
      cwd: root,
      stdio: "inherit",
      env: { ...process.env, SD_NATIVE_CPU: cpu },
    });
  } catch (err) {
    console.error(`emulated-isa-tests: ${name} (${label}) failed (status ${err.status ?? err.signal})`);
    failed++;
  }
}
for (const name of targets) runUnder("avx512", "avx512", name);
// AVX-VNNI without AVX-512 (Intel Alder Lake and later): the AVX2 path with
// the VEX-vpdpbusd integer table, which the emulated build also reports.
const avxvnniTargets = targets.filter((name) => /^test_(kernel_quant|kernel_bf16|lora_quant)$/.test(name));
for (const name of avxvnniTargets) runUnder("avx2", "avx2 + AVX-VNNI", name);
const runs = targets.length + avxvnniTargets.length;
console.log(`\nemulated-isa-tests: ${runs - failed}/${runs} test runs passed under emulated AVX-512 / AVX-VNNI`);
process.exit(failed ? 1 : 0);
