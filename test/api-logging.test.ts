import { existsSync, readFileSync } from "node:fs";
import { afterEach, describe, expect, it, vi } from "vitest";
import { type LogLevel, loadModel } from "../lib/index.js";
import { CLIP, TINY_SD1 } from "./helpers/tiny-sd1.js";

describe("logging", () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it("prints nothing by default", async () => {
    const spies = [
      vi.spyOn(process.stdout, "write"),
      vi.spyOn(process.stderr, "write"),
      vi.spyOn(console, "log"),
      vi.spyOn(console, "warn"),
      vi.spyOn(console, "error"),
      vi.spyOn(console, "info"),
      vi.spyOn(console, "debug"),
    ];
    const model = await loadModel(TINY_SD1);
    await model.dispose();
    for (const s of spies) expect(s).not.toHaveBeenCalled();
  });

  it("sends messages to the logger, filtered by logLevel", async () => {
    const got: Array<[LogLevel, string]> = [];
    const model = await loadModel(TINY_SD1, { logger: (l, m) => got.push([l, m]) });
    await model.dispose();
    expect(got).toHaveLength(1);
    expect(got[0]?.[0]).toBe("info");
    expect(got[0]?.[1]).toMatch(/^loaded .*tiny-sd1\.safetensors \(sd1, safetensors\) in \d+ ms; \w+ kernels$/);
    const quiet: string[] = [];
    await (await loadModel(TINY_SD1, { logger: (_l, m) => quiet.push(m), logLevel: "warn" })).dispose();
    expect(quiet).toEqual([]);
  });

  // The load line names the float kernel table in use: the SIMD one this CPU
  // supports, i.e. the build carries it (an MSVC cl.exe build would say
  // "scalar", with a warning).
  it("names the kernels it runs", async () => {
    const got: Array<[LogLevel, string]> = [];
    await (await loadModel(TINY_SD1, { logger: (l, m) => got.push([l, m]) })).dispose();
    const kernels = got[0]?.[1].match(/; (\w+) kernels$/)?.[1];
    const forced = process.env.SD_NATIVE_CPU;
    const avx2 =
      process.platform === "linux" &&
      existsSync("/proc/cpuinfo") &&
      /^flags\s*:.*\bavx2\b.*\bf16c\b|^flags\s*:.*\bf16c\b.*\bavx2\b/m.test(readFileSync("/proc/cpuinfo", "utf8"));
    if (forced === "scalar") expect(kernels).toBe("scalar");
    else if (process.arch === "arm64") expect(kernels).toBe("neon");
    else if (process.arch === "x64" && avx2) expect(kernels).toMatch(/^avx2$|^avx512$/);
    else expect(kernels).toMatch(/^(avx512|avx2|neon|scalar)$/);
    expect(got.filter(([l]) => l === "warn")).toEqual(
      kernels === "scalar" && forced !== "scalar" ? [expect.anything()] : [],
    );
  });

  it("a throwing logger does not break the call", async () => {
    const model = await loadModel(TINY_SD1, {
      logger: () => {
        throw new Error("logger down");
      },
    });
    expect(model.info.family).toBe("sd1");
    await model.dispose();
  });

  it("rejects a bad logger or level", async () => {
    await expect(loadModel(TINY_SD1, { logger: "console" as never })).rejects.toMatchObject({
      code: "ERR_INVALID_OPTION",
      message: expect.stringMatching(/^logger:/),
    });
    await expect(loadModel(TINY_SD1, { logLevel: "verbose" as never })).rejects.toMatchObject({
      code: "ERR_INVALID_OPTION",
      message: expect.stringContaining('"debug"'),
    });
  });

  it("logs each generation at debug and info", async () => {
    const got: Array<[LogLevel, string]> = [];
    const model = await loadModel(TINY_SD1, {
      tokenizer: CLIP,
      threads: 1,
      logger: (l, m) => got.push([l, m]),
      logLevel: "debug",
    });
    try {
      await model.generate({ prompt: "a cube", width: 64, height: 64, steps: 2, seed: 3 });
    } finally {
      await model.dispose();
    }
    expect(got.map(([l]) => l)).toEqual(["info", "debug", "info"]);
    expect(got[1]?.[1]).toBe("generate: 64x64, 2 steps, euler_a/discrete, seed 3");
    expect(got[2]?.[1]).toMatch(/^generated 1 image\(s\) in \d+ ms/);
  });
});
