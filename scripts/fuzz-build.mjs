// The clang build of fuzz/ (ASan+UBSan engine, libFuzzer targets and, when
// asked, the engine's C++ tests) shared by scripts/fuzz.mjs and
// scripts/sanitize.mjs, so both configure the same build-fuzz/ the same way.
//   env: SD_FUZZ_BUILD_DIR (default build-fuzz), SD_FIXTURES_DIR
import { join } from "node:path";
import { root, runner } from "./test-build.mjs";

export { root, runner };
export const buildDir = join(root, process.env.SD_FUZZ_BUILD_DIR ?? "build-fuzz");
export const fixtures = process.env.SD_FIXTURES_DIR ?? join(root, "..", "shared", "fixtures");

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
