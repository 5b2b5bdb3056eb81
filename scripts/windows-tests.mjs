#!/usr/bin/env node
// Cross-builds the engine tests for 64-bit Windows with MinGW-w64
// (cmake/x86_64-w64-mingw32.cmake) into build-win/ and runs them under Wine
// (set as CMake's CROSSCOMPILING_EMULATOR, so ctest runs them). This compiles
// and exercises the engine's Windows code: file mapping (CreateFileMappingW),
// UTF-8 paths through the wide-character APIs, heap-allocated large blocks,
// the core count from GetLogicalProcessorInformationEx, and Windows file
// semantics (no deleting a read-only or mapped file). It is not the release
// toolchain (MSVC's ClangCL, in .github/workflows/release.yml) and not the
// Node addon: it checks the engine, every test, on the Win32 API.
//   --build-only: build, do not run
//   env: SD_WINDOWS_BUILD_DIR  build directory (default build-win)
// Needs: apt-get install g++-mingw-w64-x86-64-posix wine64
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { configureTests, jobs, root, runner } from "./test-build.mjs";

const buildDir = join(root, process.env.SD_WINDOWS_BUILD_DIR ?? "build-win");
const run = runner("windows-tests");
const wine = ["/usr/lib/wine/wine64", "/usr/bin/wine64", "/usr/bin/wine"].find((p) => existsSync(p));
try {
  execFileSync("x86_64-w64-mingw32-g++-posix", ["--version"], { stdio: "ignore" });
} catch {
  console.error(
    "windows-tests: x86_64-w64-mingw32-g++-posix not found (apt-get install g++-mingw-w64-x86-64-posix wine64)",
  );
  process.exit(1);
}
if (!wine) {
  console.error("windows-tests: wine64 not found (apt-get install wine64)");
  process.exit(1);
}

configureTests(run, buildDir, "Release", [`-DCMAKE_TOOLCHAIN_FILE=${join(root, "cmake", "x86_64-w64-mingw32.cmake")}`]);
run("cmake", ["--build", buildDir, "--parallel", jobs]);
if (!process.argv.includes("--build-only")) {
  // WINEDEBUG=-all: Wine's own fixme lines would bury the test output.
  run("ctest", ["--test-dir", buildDir, "--output-on-failure", "-j", jobs], {
    env: { ...process.env, WINEDEBUG: "-all" },
  });
}
