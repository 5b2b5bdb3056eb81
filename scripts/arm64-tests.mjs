#!/usr/bin/env node
// Cross-builds the engine tests for arm64 (Debian's g++-aarch64-linux-gnu,
// cmake/aarch64-linux-gnu.cmake) into build-arm64/ and runs them under qemu
// user emulation (qemu-aarch64 -L /usr/aarch64-linux-gnu, set as CMake's
// CROSSCOMPILING_EMULATOR so ctest runs them). By default the kernel/op tests
// (registered once per path: scalar and neon), the NEON table tests
// (test_neon_*; qemu's default CPU has the dot-product extension, so the SDOT
// quant kernels run), the block-format tests (test_quant_formats,
// test_quant_gguf_writer) and the model tests (CLIP, U-Net, VAE against the
// reference fixtures, every op through the default NEON path); it checks
// results, not speed (emulated timings mean nothing). After the build, no
// weak symbol may be shared with the +dotprod object (check-isa-objects).
//   --all: every engine test executable
//   --build-only: build, do not run
//   env: SD_ARM64_BUILD_DIR  build directory (default build-arm64)
// Needs: apt-get install g++-aarch64-linux-gnu qemu-user
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { configureTests, engineTests, jobs, root, runner } from "./test-build.mjs";

const buildDir = join(root, process.env.SD_ARM64_BUILD_DIR ?? "build-arm64");
const args = new Set(process.argv.slice(2));
const run = runner("arm64-tests");
const have = (cmd) => {
  try {
    execFileSync(cmd, ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
};
for (const tool of ["aarch64-linux-gnu-g++", "qemu-aarch64"]) {
  if (!have(tool)) {
    console.error(`arm64-tests: ${tool} not found (apt-get install g++-aarch64-linux-gnu qemu-user)`);
    process.exit(1);
  }
}

const all = args.has("--all");
const selected = (name) => all || /^test_(kernel|ops|model_|neon|quant_formats|quant_gguf_writer)/.test(name);
const targets = engineTests(selected);

configureTests(run, buildDir, "Release", [`-DCMAKE_TOOLCHAIN_FILE=${join(root, "cmake", "aarch64-linux-gnu.cmake")}`]);
run("cmake", ["--build", buildDir, "--parallel", jobs, "--target", ...targets]);
run(process.execPath, [join(root, "scripts", "check-isa-objects.mjs"), buildDir]);
if (!args.has("--build-only")) {
  // Test names are the executable names, plus _scalar/_neon for per-path ones.
  const regex = all ? "." : `^(${targets.join("|")})(_scalar|_neon)?$`;
  run("ctest", ["--test-dir", buildDir, "--output-on-failure", "-j", jobs, "-R", regex]);
}
