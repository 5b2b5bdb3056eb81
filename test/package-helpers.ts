// Shared by the tarball and bundler tests: run commands, build the prebuild and
// the tarball the way a release does, and make a PATH with no build tools on it.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, statSync, symlinkSync } from "node:fs";
import { join } from "node:path";

export const REPO = join(__dirname, "..");
export { TINY_SD1 } from "./helpers/tiny-sd1.js";
export const TARGET = `${process.platform}-${process.arch}`;

export interface RunResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

// npm exports npm_* variables to scripts; a nested npm must not inherit the outer run's config.
function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!/^npm_/i.test(k) && k !== "INIT_CWD") env[k] = v;
  }
  return { ...env, ...extra };
}

export function run(cmd: string, args: string[], cwd: string, extraEnv: Record<string, string> = {}): RunResult {
  // On Windows npm/npx are .cmd scripts, which only a shell can start.
  const shell = process.platform === "win32" && (cmd === "npm" || cmd === "npx");
  const r = spawnSync(cmd, args, { cwd, env: cleanEnv(extraEnv), encoding: "utf8", maxBuffer: 64 << 20, shell });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

export function runOk(cmd: string, args: string[], cwd: string, extraEnv: Record<string, string> = {}): string {
  const r = run(cmd, args, cwd, extraEnv);
  if (r.status !== 0) {
    throw new Error(`${cmd} ${args.join(" ")} exited ${r.status}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`);
  }
  return r.stdout;
}

function newestMtime(dir: string, filter: (name: string) => boolean): number {
  let newest = 0;
  for (const name of readdirSync(dir, { recursive: true }) as string[]) {
    if (filter(name)) newest = Math.max(newest, statSync(join(dir, name)).mtimeMs);
  }
  return newest;
}

/**
 * Makes sure dist/ reflects lib/ (npm ci's `prepare` builds it; rebuilt here only
 * when stale, since tsup cleans dist/ and other suites run the CLI from it).
 */
export function ensureDist(): void {
  const dist = join(REPO, "dist", "index.js");
  if (existsSync(dist) && statSync(dist).mtimeMs >= newestMtime(join(REPO, "lib"), (n) => n.endsWith(".ts"))) return;
  runOk("npm", ["run", "build:ts"], REPO);
}

/** Builds prebuilds/<platform>-<arch>/ with `npm run prebuild` (incremental, own build dir). */
export function ensurePrebuild(): string {
  runOk("npm", ["run", "prebuild"], REPO);
  const dir = join(REPO, "prebuilds", TARGET);
  const files = readdirSync(dir).filter((f) => f.endsWith(".node"));
  if (files.length !== 1) throw new Error(`expected one prebuild in ${dir}, found ${files.join(", ")}`);
  return join(dir, files[0] as string);
}

export interface PackedFile {
  path: string;
  size: number;
}
export interface Packed {
  tarball: string;
  size: number;
  unpackedSize: number;
  files: PackedFile[];
}

/** `npm pack` into `destDir`; scripts are skipped because dist/ and prebuilds/ were just built. */
export function pack(destDir: string): Packed {
  const out = runOk("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", destDir], REPO);
  const [info] = JSON.parse(out) as { filename: string; size: number; unpackedSize: number; files: PackedFile[] }[];
  if (!info) throw new Error(`npm pack printed no package: ${out}`);
  return { tarball: join(destDir, info.filename), size: info.size, unpackedSize: info.unpackedSize, files: info.files };
}

const BUILD_TOOLS = ["cc", "c++", "gcc", "g++", "clang", "clang++", "cmake", "make", "ninja", "cl"];

/**
 * A PATH holding only what npm and the package need at run time (node, npm, npx,
 * a shell, `which`) as symlinks in `dir`: no compiler, no CMake, whatever the host has.
 */
export function toolFreePath(dir: string): string {
  mkdirSync(dir, { recursive: true });
  for (const tool of ["node", "npm", "npx", "sh", "which"]) {
    const where = runOk("sh", ["-c", `command -v ${tool}`], REPO).trim();
    symlinkSync(where, join(dir, tool));
  }
  for (const tool of BUILD_TOOLS) {
    if (run(join(dir, "sh"), ["-c", `command -v ${tool}`], dir, { PATH: dir }).status === 0) {
      throw new Error(`${tool} is reachable on the tool-free PATH ${dir}`);
    }
  }
  return dir;
}
