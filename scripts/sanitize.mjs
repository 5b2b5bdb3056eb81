#!/usr/bin/env node
// The engine's C++ tests under AddressSanitizer + UndefinedBehaviorSanitizer
// + LeakSanitizer, built with clang against the same instrumented engine as
// the fuzz targets (fuzz/CMakeLists.txt, build-fuzz/), so CI compiles the
// engine once for both. UBSan reports abort (-fno-sanitize-recover), leaks
// fail the test at exit.
//
//   node scripts/sanitize.mjs [--build-only] [--exclude REGEX]
//   env: SD_FUZZ_BUILD_DIR (default build-fuzz), SD_FIXTURES_DIR
// (`node scripts/engine-tests.mjs --sanitize` is the gcc variant: a separate
// full build into build-asan/.)
import { availableParallelism } from "node:os";
import { buildDir, configureFuzzBuild, runner } from "./fuzz-build.mjs";

const argv = process.argv.slice(2);
const exclude = argv.includes("--exclude") ? argv[argv.indexOf("--exclude") + 1] : undefined;
const jobs = String(availableParallelism());
const run = runner("sanitize");

configureFuzzBuild(run, ["-DSD_FUZZ_ENGINE_TESTS=ON"]);
run("cmake", ["--build", buildDir, "--parallel", jobs]);
if (argv.includes("--build-only")) process.exit(0);
run("ctest", ["--test-dir", buildDir, "--output-on-failure", "-j", jobs, ...(exclude ? ["-E", exclude] : [])], {
  env: {
    ...process.env,
    ASAN_OPTIONS: "detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1",
    UBSAN_OPTIONS: "halt_on_error=1:print_stacktrace=1",
  },
});
