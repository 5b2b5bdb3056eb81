#!/usr/bin/env node
// npm install hook. With a matching prebuild (prebuilds/<platform>-<arch>/) or
// an existing local build, nothing is compiled. Otherwise the addon is built
// from source with cmake-js (build-addon.mjs), after checking that a toolchain exists.
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { buildAddon } from "./build-addon.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(import.meta.url);

function hasBinary() {
  try {
    require("node-gyp-build").path(root);
    return true;
  } catch {
    return false;
  }
}

function which(cmd) {
  const probe = process.platform === "win32" ? "where" : "which";
  return spawnSync(probe, [cmd], { stdio: "ignore" }).status === 0;
}

if (process.env.SD_NATIVE_FORCE_BUILD !== "1" && hasBinary()) process.exit(0);

const compilers = process.platform === "win32" ? ["cl", "clang-cl"] : ["c++", "g++", "clang++"];
const missing = [];
if (!which("cmake")) missing.push("CMake >= 3.18");
if (!compilers.some(which)) missing.push("a C++17 compiler");
if (missing.length > 0) {
  console.error(
    `sd-native: no prebuilt binary for ${process.platform}-${process.arch} (Node ABI ${process.versions.modules}), ` +
      `and building from source needs ${missing.join(" and ")}, which were not found on PATH.\n` +
      "  Install them (Debian/Ubuntu: apt-get install cmake g++; macOS: xcode-select --install && brew install cmake; " +
      "Windows: Visual Studio Build Tools with 'Desktop development with C++' and CMake), then run npm install again.",
  );
  process.exit(1);
}

buildAddon(root);
