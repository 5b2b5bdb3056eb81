// scripts/build-addon.mjs: which cmake-js builds it runs. The Windows
// branches cannot run on the Linux CI, so they are checked here with an
// injected platform and command runner (no build happens).
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it, vi } from "vitest";
// @ts-expect-error: a plain .mjs script without type declarations
import { buildAddon } from "../scripts/build-addon.mjs";

const root = mkdtempSync(join(tmpdir(), "sd-build-addon-"));

function recorder(fail: (argv: string[]) => boolean = () => false) {
  const calls: string[][] = [];
  const exec = (argv: string[]) => {
    calls.push(argv);
    if (fail(argv)) throw new Error("cmake-js failed");
  };
  return { calls, exec };
}

describe("buildAddon", () => {
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  afterEach(() => {
    vi.restoreAllMocks();
    rmSync(join(root, "out"), { recursive: true, force: true });
  });

  it("builds once with the default toolset off Windows", () => {
    const r = recorder();
    buildAddon(root, { outDir: "out", args: ["--arch", "x64"], platform: "linux", env: {}, exec: r.exec });
    expect(r.calls).toEqual([["compile", "--release", "--out", "out", "--arch", "x64"]]);
  });

  it("asks for ClangCL on Windows and stops there when it builds", () => {
    const r = recorder();
    buildAddon(root, { platform: "win32", env: {}, exec: r.exec });
    expect(r.calls).toEqual([["compile", "--release", "--toolset", "ClangCL"]]);
  });

  it("falls back to the default toolset in a clean directory, with a warning", () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    mkdirSync(join(root, "out", "stale"), { recursive: true });
    let cleaned = false;
    const r = recorder((argv) => {
      if (argv.includes("ClangCL")) return true;
      cleaned = !existsSync(join(root, "out"));
      return false;
    });
    buildAddon(root, { outDir: "out", platform: "win32", env: {}, exec: r.exec });
    expect(r.calls).toEqual([
      ["compile", "--release", "--out", "out", "--toolset", "ClangCL"],
      ["compile", "--release", "--out", "out"],
    ]);
    expect(cleaned).toBe(true);
    expect(warn).toHaveBeenCalledOnce();
    expect(String(warn.mock.calls[0]?.[0])).toMatch(/scalar float kernels/);
  });

  it("honours SD_NATIVE_WIN_TOOLSET: a named toolset without fallback, or none", () => {
    const failing = recorder(() => true);
    expect(() =>
      buildAddon(root, { platform: "win32", env: { SD_NATIVE_WIN_TOOLSET: "v143" }, exec: failing.exec }),
    ).toThrow("cmake-js failed");
    expect(failing.calls).toEqual([["compile", "--release", "--toolset", "v143"]]);
    const plain = recorder();
    buildAddon(root, { platform: "win32", env: { SD_NATIVE_WIN_TOOLSET: "default" }, exec: plain.exec });
    expect(plain.calls).toEqual([["compile", "--release"]]);
  });
});
