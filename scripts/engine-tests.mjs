#!/usr/bin/env node
// Builds the engine's C++ tests and benchmarks (plain CMake, build-tests/)
// and runs them with ctest. `--build-only` skips running; `--sanitize` builds
// with ASan+UBSan into build-asan/.
import { join } from "node:path";
import { configureTests, jobs, root, runner } from "./test-build.mjs";

const args = new Set(process.argv.slice(2));
const sanitize = args.has("--sanitize");
const buildDir = join(root, process.env.SD_TEST_BUILD_DIR ?? (sanitize ? "build-asan" : "build-tests"));
const run = runner("engine-tests");

configureTests(run, buildDir, sanitize ? "RelWithDebInfo" : "Release", [
  `-DSD_NATIVE_SANITIZE=${sanitize ? "ON" : "OFF"}`,
]);
run("cmake", ["--build", buildDir, "--parallel", jobs]);
// ISA-flagged objects must not share inline code with baseline ones (illegal instructions on old CPUs).
if (!sanitize) run(process.execPath, [join(root, "scripts", "check-isa-objects.mjs"), buildDir]);
if (!args.has("--build-only")) {
  run("ctest", ["--test-dir", buildDir, "--output-on-failure", "-j", jobs]);
}
