// The clang build of fuzz/ (ASan+UBSan engine, libFuzzer targets and, when
// asked, the engine's C++ tests) shared by scripts/fuzz.mjs and
// scripts/sanitize.mjs, so both configure the same build-fuzz/ the same way.
//   env: SD_FUZZ_BUILD_DIR (default build-fuzz), SD_FIXTURES_DIR
import { execFileSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const root = join(dirname(fileURLToPath(import.meta.url)), "..");
export const buildDir = join(root, process.env.SD_FUZZ_BUILD_DIR ?? "build-fuzz");
export const fixtures = process.env.SD_FIXTURES_DIR ?? join(root, "..", "shared", "fixtures");

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

/** cmake configure of fuzz/ into buildDir with clang; `defines` adds -D options. */
export function configureFuzzBuild(run, defines = []) {
  run("cmake", [
    "-S",
    join(root, "fuzz"),
    "-B",
    buildDir,
    "-DCMAKE_C_COMPILER=clang",
    "-DCMAKE_CXX_COMPILER=clang++",
    "-DCMAKE_BUILD_TYPE=RelWithDebInfo",
    `-DSD_FIXTURES_DIR=${fixtures}`,
    ...defines,
  ]);
}
