// Loads the native addon via node-gyp-build: a local cmake-js build (build/Release)
// wins for development, else the prebuild in prebuilds/<platform>-<arch>/.
import { createRequire } from "node:module";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { NativeEmbedding } from "./embeddings.js";
import { SdError } from "./errors.js";
import type { NativeGenerateHandle, NativeGenerateParams } from "./generate.js";
import type { NativeEvent } from "./progress.js";

export interface NativeComponentInfo {
  dtype: string;
  parameterCount: number;
}

export interface NativeModelInfo {
  family: string;
  format: string;
  path: string;
  fileSize: number;
  parameterCount: number;
  prediction: string;
  inpaint: boolean;
  components: Record<string, NativeComponentInfo>;
}

export interface NativeModel {
  info(): NativeModelInfo;
  dispose(): void;
  /** Starts a generation (see lib/generate.ts); events arrive in order on the JS thread. */
  generate(params: NativeGenerateParams, onEvent: (event: NativeEvent) => void): NativeGenerateHandle;
  /** Reads a textual-inversion embedding file (lib/embeddings.ts); throws on a bad file. */
  readEmbedding(path: string): NativeEmbedding;
  /** Peak activation bytes of a call (native/engine/pipeline/memory_estimate.h; lib/memory-budget.ts). */
  estimateMemory(width: number, height: number, batch: number, guided: boolean): number;
  /** The CLIP vocabulary the checkpoint file carries (GGUF tokenizer.ggml.*), if any. */
  vocabulary(): NativeVocabulary | undefined;
}

/** Tokens by id and BPE merges ("a b") in rank order (native/engine/io/clip_vocab.h). */
export interface NativeVocabulary {
  tokens: string[];
  merges: string[];
}

export interface NativeLoadOptions {
  config?: string;
  vae?: string;
  taesd?: string;
  weightType?: string;
  weightTypes?: Record<string, string>;
}

export interface NativeBinding {
  loadModel(path: string, options: NativeLoadOptions): Promise<NativeModel>;
  /** The float kernel table in use: "avx512", "avx2", "neon" or "scalar". */
  kernelPath(): string;
  /** native/addon/convert_worker.h */
  convertModel(
    src: string,
    out: string,
    type: string,
    onProgress: (done: number, total: number) => void,
  ): { promise: Promise<void>; abort(): void };
}

// dist/*.js and lib/*.ts both sit one level below the package root.
const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");

let binding: NativeBinding | undefined;

function errorText(err: unknown): string {
  return err instanceof Error ? err.message.trim() : String(err);
}

// npm >= 11 skips dependency install scripts until the user approves them, so
// a platform without a prebuild usually ends up here rather than in a failed build.
function missingBinaryMessage(): string {
  const target = `${process.platform}-${process.arch}`;
  return (
    `sd-native: no native addon for ${target} (Node ${process.versions.node}): ${packageRoot} has neither ` +
    `prebuilds/${target}/ nor a local build. Released packages carry prebuilds for linux-x64 and linux-arm64 (glibc), ` +
    `darwin-x64, darwin-arm64 and win32-x64; elsewhere the addon is built from source. To build it: install CMake >= 3.18 and a C++17 compiler ` +
    `(Debian/Ubuntu: apt-get install cmake g++; macOS: xcode-select --install && brew install cmake; ` +
    `Windows: Visual Studio Build Tools with "Desktop development with C++"), then either approve the ` +
    `install script (npm install-scripts approve sd-native && npm rebuild sd-native) or run ` +
    `"npx cmake-js compile --release" inside ${packageRoot}. ` +
    `If sd-native was bundled into an app (esbuild, tsup, webpack, Electron), mark it external instead: ` +
    `the addon is found relative to the package's own files.`
  );
}

function loadBinding(): NativeBinding {
  const require = createRequire(import.meta.url);
  const gypBuild = require("node-gyp-build") as { path(dir: string): string };
  let file: string;
  try {
    file = gypBuild.path(packageRoot);
  } catch (err) {
    throw new SdError("ERR_INTERNAL", missingBinaryMessage(), { cause: err });
  }
  try {
    return require(file) as NativeBinding;
  } catch (err) {
    throw new SdError(
      "ERR_INTERNAL",
      `sd-native: the native addon ${file} exists but failed to load (${errorText(err)}). ` +
        `If it was built for another platform or C library, delete it and reinstall sd-native.`,
      { cause: err },
    );
  }
}

export function native(): NativeBinding {
  binding ??= loadBinding();
  return binding;
}
