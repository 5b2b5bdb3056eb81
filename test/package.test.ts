// The published artifact: what `npm pack` puts in the tarball, how big it is, and
// that a user without any build tools can install it and use every entry point.
// POSIX only: the tool-free PATH is built from symlinks (release.yml smoke-tests Windows).
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FIXTURES, meanAbsDiff, ReferenceFile } from "./helpers/reference.js";
import {
  ensureDist,
  ensurePrebuild,
  type Packed,
  pack,
  REPO,
  run,
  runOk,
  TARGET,
  TINY_SD1,
  toolFreePath,
} from "./package-helpers.js";

// Budget for a tarball with one platform's prebuild. The engine is ours and lean;
// raise this deliberately, with a reason, never to make a test pass.
const MAX_PACKED_BYTES = 2 * 1024 * 1024;
const MAX_UNPACKED_BYTES = 6 * 1024 * 1024;

// Every file in the tarball must match one of these: runtime JS/types, prebuilds,
// and what the from-source fallback needs (engine + addon sources, CMake, install hook).
const ALLOWED = [
  /^package\.json$/,
  /^README\.md$/,
  /^LICENSE$/,
  /^CMakeLists\.txt$/,
  /^scripts\/(install|build-addon)\.mjs$/,
  /^dist\/(index|cli)\.(js|cjs|d\.ts|d\.cts)(\.map)?$/,
  /^prebuilds\/[a-z0-9]+-[a-z0-9]+\/sd-native\.napi(\.glibc|\.musl)?\.node$/,
  /^native\/(engine|addon)\/[a-z0-9_/]+\.(h|hpp|inc|cpp)$/,
];
const REQUIRED = [
  "package.json",
  "README.md",
  "LICENSE",
  "CMakeLists.txt",
  "scripts/install.mjs",
  "scripts/build-addon.mjs",
  "dist/index.js",
  "dist/index.cjs",
  "dist/index.d.ts",
  "dist/index.d.cts",
  "dist/cli.js",
  "native/addon/addon.cpp",
  "native/engine/core/error.cpp",
];

const isPosix = process.platform !== "win32";
// Each step spawns node/npm/tsc; CI runs this beside the other suites on 2 cores.
const STEP_TIMEOUT_MS = 300_000;
const work = mkdtempSync(join(tmpdir(), "sd-native-pack-"));
let packed: Packed;
let prebuildName: string;

beforeAll(() => {
  ensureDist();
  prebuildName = ensurePrebuild()
    .slice(REPO.length + 1)
    .replaceAll("\\", "/");
  packed = pack(work);
  console.log(
    `sd-native tarball: ${(packed.size / 1024).toFixed(0)} KiB packed, ` +
      `${(packed.unpackedSize / 1024).toFixed(0)} KiB unpacked, ${packed.files.length} files`,
  );
}, 1_200_000);

afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

describe("npm pack", () => {
  it("contains only runtime files, prebuilds and the sources the build fallback needs", () => {
    const paths = packed.files.map((f) => f.path);
    const stray = paths.filter((p) => !ALLOWED.some((re) => re.test(p)));
    expect(stray).toEqual([]);
    expect(paths).toEqual(expect.arrayContaining([...REQUIRED, prebuildName]));
  });

  it(`stays within the size budget (${MAX_PACKED_BYTES >> 20} MiB packed, ${MAX_UNPACKED_BYTES >> 20} MiB unpacked)`, () => {
    expect(packed.size).toBeLessThanOrEqual(MAX_PACKED_BYTES);
    expect(packed.unpackedSize).toBeLessThanOrEqual(MAX_UNPACKED_BYTES);
  });
});

describe.skipIf(!isPosix)("installing the tarball with no compiler on PATH", { timeout: STEP_TIMEOUT_MS }, () => {
  const project = join(work, "app");
  let env: Record<string, string>;
  const pkgDir = () => join(project, "node_modules", "sd-native");

  beforeAll(() => {
    env = { PATH: toolFreePath(join(work, "bin")) };
    runOk("mkdir", ["-p", project], work);
    writeFileSync(join(project, "package.json"), JSON.stringify({ name: "app", version: "1.0.0", private: true }));
    // Dependencies come from the local npm cache when present (npm ci filled it), else the registry.
    runOk("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", packed.tarball], project, env);
  }, 600_000);

  it("installs without compiling anything", () => {
    expect(existsSync(join(pkgDir(), prebuildName))).toBe(true);
    expect(existsSync(join(pkgDir(), "build"))).toBe(false);
    // The install hook (which npm >= 11 runs only once approved) finds the prebuild and exits.
    const hook = run("node", [join(pkgDir(), "scripts", "install.mjs")], project, env);
    expect(hook.status, hook.stderr).toBe(0);
    expect(existsSync(join(pkgDir(), "build"))).toBe(false);
  });

  it("loads the prebuild, not some other build", () => {
    const resolved = runOk(
      "node",
      ["-p", `require("node-gyp-build").path(${JSON.stringify(pkgDir())})`],
      pkgDir(),
      env,
    );
    expect(resolved.trim()).toBe(join(pkgDir(), prebuildName));
  });

  it("works from CommonJS (require)", () => {
    const out = runOk(
      "node",
      ["-e", 'const s = require("sd-native"); console.log(typeof s.loadModel, typeof s.SdError)'],
      project,
      env,
    );
    expect(out.trim()).toBe("function function");
  });

  it("works from ESM (import)", () => {
    const out = runOk(
      "node",
      ["--input-type=module", "-e", 'const s = await import("sd-native"); console.log(typeof s.loadModel)'],
      project,
      env,
    );
    expect(out.trim()).toBe("function");
  });

  it("resolves its types under moduleResolution node16, for ESM and CJS consumers", () => {
    const tsconfig = {
      compilerOptions: {
        module: "node16",
        moduleResolution: "node16",
        target: "ES2022",
        strict: true,
        noEmit: true,
        skipLibCheck: false,
        types: ["node"],
        typeRoots: [join(REPO, "node_modules", "@types")],
      },
      files: ["esm.mts", "cjs.cts"],
    };
    writeFileSync(join(project, "tsconfig.json"), JSON.stringify(tsconfig));
    // The @ts-expect-error lines fail the check if the types degrade to `any`.
    writeFileSync(
      join(project, "esm.mts"),
      [
        'import { loadModel, SdError, type ModelInfo } from "sd-native";',
        'const model = await loadModel("m.safetensors");',
        "const info: ModelInfo = model.info;",
        "const family: string = info.family;",
        "// @ts-expect-error path must be a string",
        "void loadModel(42);",
        'const e = new SdError("ERR_IO", "x");',
        "// @ts-expect-error codes are a closed union",
        'void new SdError("ERR_NOPE", "x");',
        "console.log(family, e.code);",
        "await model.dispose();",
      ].join("\n"),
    );
    writeFileSync(
      join(project, "cjs.cts"),
      [
        'import sd = require("sd-native");',
        'const p: Promise<sd.Model> = sd.loadModel("m.safetensors");',
        "// @ts-expect-error path must be a string",
        "void sd.loadModel(42);",
        "void p;",
      ].join("\n"),
    );
    const tsc = run("node", [join(REPO, "node_modules", "typescript", "bin", "tsc"), "-p", "."], project, env);
    expect(tsc.stdout + tsc.stderr).toBe("");
    expect(tsc.status).toBe(0);
  });

  it("runs the CLI through npx", () => {
    const version = (JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")) as { version: string }).version;
    expect(runOk("npx", ["--offline", "sd-native", "--version"], project, env).trim()).toBe(version);
    const info = JSON.parse(runOk("npx", ["--offline", "sd-native", "info", TINY_SD1, "--json"], project, env));
    expect(info.family).toBe("sd1");
  });

  it("generates the tiny SD1 reference image through the prebuilt addon", () => {
    // Same seed and sampler as the reference pipeline's Heun run on this checkpoint;
    // the bound is e2e-reference.test.ts's (mean |diff| <= 1 on 0..255).
    const ref = new ReferenceFile(join(FIXTURES, "tiny-sd1", "ref", "sample_heun.safetensors"));
    const p = ref.generateParams();
    const options = {
      ...p,
      sampler: "heun",
      scheduler: "discrete",
    };
    const out = join(work, "image.bin");
    const script = [
      'import { writeFileSync } from "node:fs";',
      'import { loadModel } from "sd-native";',
      `const model = await loadModel(${JSON.stringify(TINY_SD1)}, ${JSON.stringify({
        // Single files need their folder's configs (8 norm groups) and carry no CLIP vocabulary.
        config: join(FIXTURES, "tiny-sd1", "diffusers"),
        tokenizer: join(FIXTURES, "..", "clip"),
      })});`,
      `const { images } = await model.generate(${JSON.stringify(options)});`,
      `writeFileSync(${JSON.stringify(out)}, images[0].data);`,
      "console.log(JSON.stringify({ family: model.info.family, width: images[0].width, height: images[0].height }));",
      "await model.dispose();",
    ].join("\n");
    const result = JSON.parse(runOk("node", ["--input-type=module", "-e", script], project, env));
    expect(result).toEqual({ family: "sd1", width: p.width, height: p.height });
    expect(meanAbsDiff(readFileSync(out), ref.u8("image_u8"))).toBeLessThanOrEqual(1.0);
  });

  it("without a binary, rejects with an SdError that says how to get one", () => {
    // node-gyp-build honours SD_NATIVE_PREBUILD: point it at an empty folder.
    const empty = join(work, "empty");
    runOk("mkdir", ["-p", empty], work);
    const script = [
      'const { loadModel } = require("sd-native");',
      `loadModel(${JSON.stringify(TINY_SD1)}).then(`,
      '  () => console.log("loaded"),',
      "  (e) => console.log(JSON.stringify({ name: e.name, code: e.code, message: e.message })),",
      ");",
    ].join("\n");
    const out = JSON.parse(runOk("node", ["-e", script], project, { ...env, SD_NATIVE_PREBUILD: empty }));
    expect(out.name).toBe("SdError");
    expect(out.code).toBe("ERR_INTERNAL");
    expect(out.message).toContain(`no native addon for ${TARGET}`);
    expect(out.message).toContain("npm install-scripts approve sd-native");
    expect(out.message).toContain("npx cmake-js compile --release");
  });

  it("without a binary or a toolchain, the install hook fails with one message naming what to install", () => {
    const empty = join(work, "empty");
    const hook = run("node", [join(pkgDir(), "scripts", "install.mjs")], project, {
      ...env,
      SD_NATIVE_PREBUILD: empty,
    });
    expect(hook.status).toBe(1);
    expect(hook.stderr).toContain("CMake");
    expect(hook.stderr).toContain("C++17 compiler");
    expect(existsSync(join(pkgDir(), "build"))).toBe(false);
  });
});
