import { describe, expect, expectTypeOf, it } from "vitest";
import {
  DEFAULTS,
  defaultSize,
  type GenerateOptions,
  type GenerateParams,
  type GenerateResult,
  type Image,
  type Model,
  type ProgressEvent,
  RNGS,
  resolveParams,
  SAMPLERS,
  SCHEDULERS,
  SdError,
} from "../lib/index.js";
import { checkGenerateOptions } from "../lib/options.js";

const SD1 = { family: "sd1", prediction: "epsilon" } as const;
const SD2V = { family: "sd2", prediction: "v" } as const;
const SD2E = { family: "sd2", prediction: "epsilon" } as const;
const SDXL = { family: "sdxl", prediction: "epsilon" } as const;

function invalid(fn: () => unknown, option: string, mention?: string): void {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught, `expected ERR_INVALID_OPTION for ${option}`).toBeInstanceOf(SdError);
  const err = caught as SdError;
  expect(err.code).toBe("ERR_INVALID_OPTION");
  expect(err.message.startsWith(`${option}:`), err.message).toBe(true);
  if (mention) expect(err.message).toContain(mention);
}

describe("generate() defaults", () => {
  it("uses the native size of each family", () => {
    expect(defaultSize(SD1)).toBe(512);
    expect(defaultSize(SD2V)).toBe(768);
    expect(defaultSize(SD2E)).toBe(512);
    expect(defaultSize(SDXL)).toBe(1024);
    const p = resolveParams({ prompt: "x" }, SDXL, { seed: () => 5 });
    expect([p.width, p.height]).toEqual([1024, 1024]);
  });

  it("fills every other option with the documented default", () => {
    const p = resolveParams({ prompt: "a cat" }, SD1, { seed: () => 123 });
    expect(p).toEqual({
      prompt: "a cat",
      negativePrompt: "",
      width: 512,
      height: 512,
      steps: 20,
      cfgScale: 7,
      sampler: "euler_a",
      scheduler: "discrete",
      sigmas: undefined,
      seed: 123,
      rng: "cpu",
      clipSkip: 1,
      batchSize: 1,
      initImage: undefined,
      strength: 0.75,
      mask: undefined,
      loras: [],
      decoder: "vae",
      embeddings: [],
      vaeTiling: { mode: "auto", tileSize: 512, overlap: 128 },
      precision: "default",
    });
    expect(DEFAULTS).toMatchObject({ steps: 20, cfgScale: 7, sampler: "euler_a", scheduler: "discrete", rng: "cpu" });
  });

  it("draws a random 32-bit seed when none is given, and keeps a given one", () => {
    const seeds = new Set(Array.from({ length: 20 }, () => resolveParams({ prompt: "" }, SD1).seed));
    expect(seeds.size).toBeGreaterThan(15);
    for (const s of seeds) expect(Number.isInteger(s) && s >= 0 && s < 2 ** 32).toBe(true);
    expect(resolveParams({ prompt: "", seed: 0 }, SD1).seed).toBe(0);
    expect(resolveParams({ prompt: "", seed: 2 ** 40 }, SD1).seed).toBe(2 ** 40);
  });

  it("takes img2img width/height from the init image, rounded down to a multiple of 8", () => {
    const init = { width: 3, height: 3, data: new Uint8Array(27) };
    const p = resolveParams({ prompt: "", initImage: init }, SD1, { initImageSize: { width: 301, height: 517 } });
    expect([p.width, p.height]).toEqual([296, 512]);
    const q = resolveParams({ prompt: "", initImage: init, width: 128 }, SD1, {
      initImageSize: { width: 301, height: 517 },
    });
    expect([q.width, q.height]).toEqual([128, 512]);
  });

  it("derives steps from custom sigmas", () => {
    const p = resolveParams({ prompt: "", sigmas: [14.6, 5, 1, 0] }, SD1);
    expect(p.steps).toBe(3);
    expect(p.sigmas).toEqual([14.6, 5, 1, 0]);
  });
});

describe("generate() validation names the option and what is allowed", () => {
  const ok = { prompt: "p" };
  it("prompt and negativePrompt", () => {
    invalid(() => resolveParams({} as GenerateParams, SD1), "prompt", "string");
    invalid(() => resolveParams({ prompt: 3 } as unknown as GenerateParams, SD1), "prompt");
    invalid(
      () => resolveParams({ prompt: "", negativePrompt: null } as unknown as GenerateParams, SD1),
      "negativePrompt",
    );
    invalid(() => resolveParams(null as unknown as GenerateParams, SD1), "params");
  });
  it("unknown option names (typos)", () => {
    invalid(() => resolveParams({ ...ok, cfg_scale: 7 } as unknown as GenerateParams, SD1), "cfg_scale", "cfgScale");
    invalid(
      () => checkGenerateOptions({ onprogress: () => {} } as unknown as GenerateOptions),
      "onprogress",
      "onProgress",
    );
  });
  it("rng: only PyTorch's CPU generator", () => {
    expect(resolveParams({ ...ok, rng: "cpu" }, SD1).rng).toBe("cpu");
    invalid(() => resolveParams({ ...ok, rng: "cuda" } as unknown as GenerateParams, SD1), "rng");
  });
  it("width and height: multiples of 8 within bounds", () => {
    for (const bad of [0, 63, 100, 513, 4104, 8192, -512, 512.5, Number.NaN]) {
      invalid(() => resolveParams({ ...ok, width: bad }, SD1), "width", "multiple of 8");
      invalid(() => resolveParams({ ...ok, height: bad }, SD1), "height", "multiple of 8");
    }
    invalid(() => resolveParams({ ...ok, width: "512" } as unknown as GenerateParams, SD1), "width");
    expect(resolveParams({ ...ok, width: 64, height: 4096 }, SD1).width).toBe(64);
  });
  it("steps >= 1 (integer)", () => {
    for (const bad of [0, -1, 1.5, 1001])
      invalid(() => resolveParams({ ...ok, steps: bad }, SD1), "steps", "1 to 1000");
  });
  it("cfgScale", () => {
    invalid(() => resolveParams({ ...ok, cfgScale: null } as unknown as GenerateParams, SD1), "cfgScale");
    invalid(() => resolveParams({ ...ok, seed: null } as unknown as GenerateParams, SD1), "seed");
    for (const bad of [-1, Number.POSITIVE_INFINITY, 101])
      invalid(() => resolveParams({ ...ok, cfgScale: bad }, SD1), "cfgScale");
  });
  it("sampler, scheduler and rng list the allowed names", () => {
    invalid(() => resolveParams({ ...ok, sampler: "euler_ancestral" as never }, SD1), "sampler", '"dpm++2m"');
    invalid(() => resolveParams({ ...ok, scheduler: "Karras" as never }, SD1), "scheduler", '"karras"');
    invalid(() => resolveParams({ ...ok, rng: "gpu" as never }, SD1), "rng", '"cpu"');
    for (const s of SAMPLERS) expect(resolveParams({ ...ok, sampler: s }, SD1).sampler).toBe(s);
    for (const s of SCHEDULERS) expect(resolveParams({ ...ok, scheduler: s }, SD1).scheduler).toBe(s);
    for (const r of RNGS) expect(resolveParams({ ...ok, rng: r }, SD1).rng).toBe(r);
    expect(SAMPLERS).toHaveLength(14);
    expect(SCHEDULERS).toEqual(["discrete", "karras", "exponential", "sgm_uniform", "simple", "ays"]);
  });
  it("sigmas: descending, non-negative, ending in 0, consistent with steps", () => {
    invalid(() => resolveParams({ ...ok, sigmas: [1] }, SD1), "sigmas");
    invalid(() => resolveParams({ ...ok, sigmas: [1, 2, 0] }, SD1), "sigmas", "descending");
    invalid(() => resolveParams({ ...ok, sigmas: [2, 1] }, SD1), "sigmas", "end with 0");
    invalid(() => resolveParams({ ...ok, sigmas: [2, -1, 0] }, SD1), "sigmas");
    invalid(() => resolveParams({ ...ok, sigmas: [2, 1, 0], steps: 5 }, SD1), "steps", "sigmas");
  });
  it("seed: a safe non-negative integer", () => {
    for (const bad of [-1, 1.5, 2 ** 53, Number.NaN]) invalid(() => resolveParams({ ...ok, seed: bad }, SD1), "seed");
  });
  it("clipSkip and batchSize", () => {
    invalid(() => resolveParams({ ...ok, clipSkip: 0 }, SD1), "clipSkip", "1 to 12");
    invalid(() => resolveParams({ ...ok, batchSize: 0 }, SD1), "batchSize", "1 to 16");
    invalid(() => resolveParams({ ...ok, batchSize: 17 }, SD1), "batchSize");
  });
  it("strength in (0, 1] and only with initImage", () => {
    const initImage = { width: 1, height: 1, data: new Uint8Array(3) };
    for (const bad of [0, -0.1, 1.01, Number.NaN])
      invalid(() => resolveParams({ ...ok, initImage, strength: bad }, SD1), "strength", "(0, 1]");
    invalid(() => resolveParams({ ...ok, strength: 0.5 }, SD1), "strength", "initImage");
    expect(resolveParams({ ...ok, initImage, strength: 1 }, SD1).strength).toBe(1);
    // int(steps * strength) must leave a step, before any native work.
    invalid(() => resolveParams({ ...ok, initImage, steps: 4, strength: 0.2 }, SD1), "strength", "leaves no step");
    invalid(() => resolveParams({ ...ok, initImage, steps: 1 }, SD1), "strength", "leaves no step"); // default 0.75
    expect(resolveParams({ ...ok, initImage, steps: 4, strength: 0.25 }, SD1).steps).toBe(4);
  });
  it("initImage and mask shapes", () => {
    invalid(() => resolveParams({ ...ok, initImage: "" }, SD1), "initImage");
    invalid(() => resolveParams({ ...ok, initImage: new Uint8Array(0) }, SD1), "initImage", "empty");
    invalid(() => resolveParams({ ...ok, initImage: 42 as never }, SD1), "initImage");
    invalid(
      () => resolveParams({ ...ok, initImage: { width: 2, height: 2, data: new Uint8Array(5) } }, SD1),
      "initImage",
      "12 (RGB)",
    );
    invalid(
      () => resolveParams({ ...ok, initImage: { width: 0, height: 2, data: new Uint8Array(0) } }, SD1),
      "initImage",
    );
    invalid(() => resolveParams({ ...ok, mask: "m.png" }, SD1), "mask", "needs initImage");
    const rgba = { width: 2, height: 2, data: new Uint8ClampedArray(16) };
    expect(
      resolveParams({ ...ok, initImage: rgba, mask: { width: 2, height: 2, data: new Uint8Array(4) } }, SD1).mask,
    ).toBeDefined();
  });
  it("call options", () => {
    invalid(() => checkGenerateOptions({ previewEvery: -1 }), "previewEvery");
    invalid(() => checkGenerateOptions({ previewEvery: 1.5 }), "previewEvery");
    invalid(() => checkGenerateOptions({ signal: {} as AbortSignal }), "signal", "AbortSignal");
    invalid(() => checkGenerateOptions({ onProgress: 1 as never }), "onProgress");
    expect(checkGenerateOptions({}).previewEvery).toBe(0);
  });
});

describe("API types", () => {
  it("generate() is typed as documented", () => {
    expectTypeOf<Model["generate"]>().parameters.toEqualTypeOf<[GenerateParams, GenerateOptions?]>();
    expectTypeOf<Model["generate"]>().returns.resolves.toEqualTypeOf<GenerateResult>();
    expectTypeOf<GenerateResult["images"]>().toEqualTypeOf<Image[]>();
    expectTypeOf<GenerateResult["seed"]>().toEqualTypeOf<number>();
    expectTypeOf<GenerateResult["timings"]["perStepMs"]>().toEqualTypeOf<number[]>();
    expectTypeOf<GenerateResult["timings"]["loadMs"]>().toEqualTypeOf<number | undefined>();
    expectTypeOf<Image["channels"]>().toEqualTypeOf<3>();
    expectTypeOf<Image["data"]>().toEqualTypeOf<Uint8Array>();
    expectTypeOf<Image["toPNG"]>().returns.resolves.toEqualTypeOf<Buffer>();
    expectTypeOf<ProgressEvent["stage"]>().toEqualTypeOf<"load" | "encode" | "denoise" | "decode">();
    expectTypeOf<ProgressEvent["preview"]>().toEqualTypeOf<Image | undefined>();
    expectTypeOf<GenerateOptions["onProgress"]>().toEqualTypeOf<((e: ProgressEvent) => void) | undefined>();
    expectTypeOf<GenerateParams["sampler"]>().toEqualTypeOf<(typeof SAMPLERS)[number] | undefined>();
    // Misuse is a compile error:
    // @ts-expect-error unknown sampler name
    const bad: GenerateParams = { prompt: "", sampler: "euler_ancestral" };
    // @ts-expect-error prompt is required
    const noPrompt: GenerateParams = { steps: 3 };
    expect([bad, noPrompt]).toHaveLength(2);
  });
});
