// precision: validation, and "fast" through the public API. "fast" runs bf16
// GEMMs only on CPUs with AVX-512 BF16 (result.precision "fast"); elsewhere it
// runs the exact path: the result says "default", a warning reaches the
// logger, and the image is the default one.
import { afterAll, describe, expect, it } from "vitest";
import { type GenerateParams, loadModel, type Model, resolveParams, SdError } from "../lib/index.js";
import { TINY_SD1_DIFFUSERS } from "./helpers/tiny-sd1.js";

const SD1 = { family: "sd1", prediction: "epsilon" } as const;

describe("precision validation", () => {
  it('defaults to "default" and accepts "fast"', () => {
    expect(resolveParams({ prompt: "x" }, SD1).precision).toBe("default");
    expect(resolveParams({ prompt: "x", precision: "fast" }, SD1).precision).toBe("fast");
  });

  it("rejects anything else with ERR_INVALID_OPTION", () => {
    for (const precision of ["bf16", "FAST", "", 1, true, null]) {
      let caught: unknown;
      try {
        resolveParams({ prompt: "x", precision } as unknown as GenerateParams, SD1);
      } catch (e) {
        caught = e;
      }
      expect(caught, JSON.stringify(precision)).toBeInstanceOf(SdError);
      expect((caught as SdError).code).toBe("ERR_INVALID_OPTION");
      expect((caught as SdError).message).toMatch(/^precision: must be one of "default", "fast"/);
    }
  });
});

describe('precision "fast" through generate()', () => {
  const logged: string[] = [];
  let model: Promise<Model> | undefined;
  const tiny = () => {
    model ??= loadModel(TINY_SD1_DIFFUSERS, {
      logger: (level, message) => {
        if (level === "warn") logged.push(message);
      },
    });
    return model;
  };
  afterAll(async () => {
    await (await model)?.dispose();
  });

  it("runs the bf16 path, or falls back to the exact path and says so", { timeout: 120_000 }, async () => {
    const m = await tiny();
    const params = { prompt: "a red apple", width: 64, height: 64, steps: 2, sampler: "euler", seed: 3 } as const;
    const exact = await m.generate(params);
    expect(exact.precision).toBe("default");
    expect(logged).toEqual([]);
    const fast = await m.generate({ ...params, precision: "fast" });
    if (fast.precision === "fast") {
      // AVX-512 BF16 CPU: no fallback warning.
      expect(logged).toEqual([]);
      return;
    }
    expect(fast.precision).toBe("default");
    expect(logged.some((w) => w.includes('precision "fast"') && w.includes("default fp32 path"))).toBe(true);
    expect(Buffer.from(fast.images[0]?.data ?? []).equals(Buffer.from(exact.images[0]?.data ?? [1]))).toBe(true);
  });
});
