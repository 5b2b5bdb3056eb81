// Builds the N-API addon with cmake-js: install.mjs (source installs) and
// prebuild.mjs (release binaries) both go through here.
//
// Windows: the float SIMD kernels are written with GCC/Clang vector
// extensions, which Visual Studio's clang-cl has and its cl.exe does not (a
// cl.exe build runs only the scalar float path, several times slower). So the
// build asks for the ClangCL toolset first and, where it is not installed
// ("C++ Clang tools for Windows" in the Visual Studio installer), warns and
// builds again with the default toolset. SD_NATIVE_WIN_TOOLSET names a
// toolset to use without that fallback ("ClangCL", "v143", ...); "default"
// skips ClangCL.
import { execFileSync } from "node:child_process";
import { rmSync } from "node:fs";
import { createRequire } from "node:module";
import { availableParallelism } from "node:os";
import { dirname, join, resolve } from "node:path";

const require = createRequire(import.meta.url);

/**
 * Runs `cmake-js compile --release [--out outDir] ...args` in root.
 * platform, env and exec (runs one cmake-js argument list, throws on failure)
 * are injectable for tests.
 */
export function buildAddon(root, { outDir, args = [], platform = process.platform, env = process.env, exec } = {}) {
  const base = ["compile", "--release", ...(outDir ? ["--out", outDir] : []), ...args];
  const run = (extra) => (exec ?? cmakeJs(root, env))([...base, ...extra]);
  const asked = env.SD_NATIVE_WIN_TOOLSET;
  if (platform !== "win32" || asked === "default") return run([]);
  if (asked) return run(["--toolset", asked]);
  try {
    run(["--toolset", "ClangCL"]);
  } catch {
    console.warn(
      "sd-native: the ClangCL build failed (Visual Studio's 'C++ Clang tools for Windows' missing?); building with " +
        "the default toolset, whose binary has only the scalar float kernels (several times slower)",
    );
    rmSync(resolve(root, outDir ?? "build"), { recursive: true, force: true }); // its CMake cache pins the toolset
    run([]);
  }
}

function cmakeJs(root, env) {
  const bin = join(dirname(require.resolve("cmake-js/package.json")), "bin", "cmake-js");
  const childEnv = {
    ...env,
    CMAKE_BUILD_PARALLEL_LEVEL: env.CMAKE_BUILD_PARALLEL_LEVEL ?? String(availableParallelism()),
  };
  return (argv) => execFileSync(process.execPath, [bin, ...argv], { cwd: root, stdio: "inherit", env: childEnv });
}
