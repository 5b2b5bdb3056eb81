// Apps bundled with esbuild/tsup (and Electron apps) must keep sd-native external:
// the addon is located relative to the package's own files, and its dependencies
// use CommonJS requires that an ESM bundle cannot serve.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { build, type Format } from "esbuild";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureDist, REPO, runOk, TINY_SD1 } from "./package-helpers.js";

const APP = `
import { loadModel, SdError } from "sd-native";

async function main(): Promise<void> {
  const model = await loadModel(process.argv[2] as string);
  console.log(JSON.stringify({ family: model.info.family, sdError: typeof SdError }));
  await model.dispose();
}
main().catch((e: { name?: string; code?: string; message?: string }) => {
  console.log(JSON.stringify({ error: e.name, code: e.code, message: e.message }));
});
`;

const work = mkdtempSync(join(tmpdir(), "sd-native-bundle-"));

async function bundle(format: Format, external: string[]): Promise<string> {
  const outfile = join(
    work,
    "out",
    `app-${format}-${external.length ? "ext" : "inlined"}.${format === "esm" ? "mjs" : "cjs"}`,
  );
  await build({
    entryPoints: [join(work, "app.ts")],
    outfile,
    bundle: true,
    platform: "node",
    target: "node20",
    format,
    external,
    logLevel: "silent",
  });
  return outfile;
}

beforeAll(() => {
  ensureDist();
  writeFileSync(join(work, "app.ts"), APP);
  // As npm lays it out: sd-native and its hoisted dependency next to the app.
  mkdirSync(join(work, "node_modules"));
  symlinkSync(REPO, join(work, "node_modules", "sd-native"), "junction");
  symlinkSync(join(REPO, "node_modules", "node-gyp-build"), join(work, "node_modules", "node-gyp-build"), "junction");
}, 120_000);

afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

describe("bundling an app that uses sd-native", () => {
  for (const format of ["esm", "cjs"] as const) {
    it(`works as a ${format} bundle with sd-native external`, async () => {
      const outfile = await bundle(format, ["sd-native"]);
      // External means the bundle imports the package instead of carrying its code.
      expect(readFileSync(outfile, "utf8")).not.toContain("node-gyp-build");
      const out = JSON.parse(runOk("node", [outfile, TINY_SD1], work));
      expect(out).toEqual({ family: "sd1", sdError: "function" });
    });
  }
});
