// Shared by the scripts that configure, build and run the engine's C++ tests
// (engine-tests, emulated-isa-tests, arm64-tests; fuzz-build for the clang
// fuzz/sanitizer build): the repo root, the job count, a command runner, the
// engine test names and the plain CMake test-build configure.
import { execFileSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { availableParallelism } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const root = join(dirname(fileURLToPath(import.meta.url)), "..");
export const jobs = String(availableParallelism());

/** A command runner for `tag`'s script: output inherited, a failure exits with the command's status. */
export function runner(tag) {
  return (cmd, args, opts = {}) => {
    try {
      execFileSync(cmd, args, { cwd: root, stdio: "inherit", ...opts });
    } catch (err) {
      console.error(`${tag}: ${cmd} exited with status ${err.status ?? err.signal}`);
      process.exit(typeof err.status === "number" && err.status !== 0 ? err.status : 1);
    }
  };
}

/** The engine's test executables (test/engine/test_*.cpp) whose name `keep` accepts. */
export function engineTests(keep = () => true) {
  return readdirSync(join(root, "test", "engine"))
    .filter((f) => f.startsWith("test_") && f.endsWith(".cpp"))
    .map((f) => f.slice(0, -4))
    .filter(keep);
}

/** cmake configure of the engine with its C++ tests (SD_NATIVE_TESTS) into buildDir; `defines` adds -D options. */
export function configureTests(run, buildDir, buildType, defines = []) {
  run("cmake", ["-S", root, "-B", buildDir, "-DSD_NATIVE_TESTS=ON", `-DCMAKE_BUILD_TYPE=${buildType}`, ...defines]);
}
