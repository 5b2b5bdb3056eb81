#!/usr/bin/env node
// Builds the engine's C++ tests and benchmarks (plain CMake, build-tests/)
// and runs them with ctest. `--build-only` skips running; `--sanitize` builds
// with ASan+UBSan into build-asan/.
import { execFileSync } from "node:child_process";
import { availableParallelism } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const args = new Set(process.argv.slice(2));
const sanitize = args.has("--sanitize");
const buildDir = join(root, process.env.SD_TEST_BUILD_DIR ?? (sanitize ? "build-asan" : "build-tests"));
const jobs = String(availableParallelism());
const run = (cmd, argv) => {
  try {
    execFileSync(cmd, argv, { cwd: root, stdio: "inherit" });
  } catch (err) {
    console.error(`engine-tests: ${cmd} exited with status ${err.status ?? err.signal}`);
    process.exit(typeof err.status === "number" ? err.status : 1);
  }
};

run("cmake", [
  "-S",
  root,
  "-B",
  buildDir,
  "-DSD_NATIVE_TESTS=ON",
  `-DCMAKE_BUILD_TYPE=${sanitize ? "RelWithDebInfo" : "Release"}`,
  `-DSD_NATIVE_SANITIZE=${sanitize ? "ON" : "OFF"}`,
]);
run("cmake", ["--build", buildDir, "--parallel", jobs]);
// ISA-flagged objects must not share inline code with baseline ones (illegal instructions on old CPUs).
if (!sanitize) run(process.execPath, [join(root, "scripts", "check-isa-objects.mjs"), buildDir]);
if (!args.has("--build-only")) {
  run("ctest", ["--test-dir", buildDir, "--output-on-failure", "-j", jobs]);
}
