import { defineConfig } from "tsup";

export default defineConfig([
  {
    entry: { index: "lib/index.ts" },
    format: ["esm", "cjs"],
    dts: true,
    shims: true,
    clean: true,
    target: "node20",
    sourcemap: true,
  },
  {
    entry: { cli: "lib/cli.ts" },
    format: ["esm"],
    shims: true,
    target: "node20",
    sourcemap: true,
  },
]);
