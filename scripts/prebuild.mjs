#!/usr/bin/env node
// Builds the N-API addon for this machine's platform/arch and stores it where
// node-gyp-build looks for prebuilds: prebuilds/<platform>-<arch>/sd-native.napi[.glibc|.musl].node.
// One N-API binary serves every Node >= 20; on x86-64 it carries the AVX2/AVX-512
// kernels behind runtime dispatch (never -march=native), so it runs on any x86-64 CPU.
//
// It builds in its own directory (build-prebuild/, incremental) so a developer's
// build/ is untouched, then copies and strips the result. Usage:
//   node scripts/prebuild.mjs [--arch x64|arm64] [--no-strip]
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { buildAddon } from "./build-addon.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
const archIndex = args.indexOf("--arch");
const arch = archIndex >= 0 ? args[archIndex + 1] : process.arch;
const strip = !args.includes("--no-strip");
const platform = process.platform;

// Same libc detection as node-gyp-build, so the tag we write is the one it matches.
function libcTag() {
  if (platform !== "linux") return "";
  return existsSync("/etc/alpine-release") ? ".musl" : ".glibc";
}

const outDir = join(root, "build-prebuild");
buildAddon(root, { outDir, args: arch !== process.arch ? ["--arch", arch] : [] });

// cmake-js puts the module in <out>/Release (single-config generators and MSVC alike).
const releaseDir = join(outDir, "Release");
const built = readdirSync(releaseDir).filter((f) => f.endsWith(".node"));
if (built.length !== 1)
  throw new Error(`expected one .node file in ${releaseDir}, found: ${built.join(", ") || "none"}`);

const destDir = join(root, "prebuilds", `${platform}-${arch}`);
rmSync(destDir, { recursive: true, force: true });
mkdirSync(destDir, { recursive: true });
const dest = join(destDir, `sd-native.napi${libcTag()}.node`);
copyFileSync(join(releaseDir, built[0]), dest);

// Symbols are dead weight for users; -x keeps the N-API entry point on macOS.
if (strip && (platform === "linux" || platform === "darwin")) {
  const stripArgs = platform === "darwin" ? ["-x", dest] : ["--strip-unneeded", dest];
  const r = spawnSync(process.env.STRIP ?? "strip", stripArgs, { stdio: "inherit" });
  if (r.status !== 0)
    console.warn(`sd-native prebuild: strip failed (${r.error?.message ?? r.status}); keeping symbols`);
}
console.log(`sd-native prebuild: ${dest.slice(root.length + 1)} (${(statSync(dest).size / 1024).toFixed(0)} KiB)`);
