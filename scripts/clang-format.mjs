#!/usr/bin/env node
// Formats (or with --check, verifies) every tracked C++ file with the
// clang-format pinned in devDependencies, so everyone gets the same result.
import { execFileSync } from "node:child_process";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(import.meta.url);
const clangFormat = join(dirname(require.resolve("clang-format/package.json")), "index.js");
const check = process.argv.includes("--check");

const files = execFileSync("git", ["ls-files", "*.cpp", "*.h"], { cwd: root, encoding: "utf8" })
  .split("\n")
  .filter((f) => f !== "");
const args = check ? ["--dry-run", "--Werror", ...files] : ["-i", ...files];
try {
  execFileSync(process.execPath, [clangFormat, ...args], { cwd: root, stdio: "inherit" });
} catch {
  console.error("clang-format: files above are not formatted; run `npm run format`");
  process.exit(1);
}
