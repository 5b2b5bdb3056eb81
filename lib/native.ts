// Loads the native addon: a prebuild from prebuilds/<platform>-<arch>/ or the
// local cmake-js build (build/Release), via node-gyp-build.
import { createRequire } from "node:module";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

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
}

export interface NativeLoadOptions {
  config?: string;
}

export interface NativeBinding {
  loadModel(path: string, options: NativeLoadOptions): Promise<NativeModel>;
}

// dist/*.js and lib/*.ts both sit one level below the package root.
const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");

let binding: NativeBinding | undefined;

export function native(): NativeBinding {
  if (!binding) {
    const require = createRequire(import.meta.url);
    const load = require("node-gyp-build") as (dir: string) => NativeBinding;
    binding = load(packageRoot);
  }
  return binding;
}
