// vaeTiling: option validation, and tiled decodes through the public API on
// the tiny SD 1.x model (VAE factor 8). With 256-pixel tiles overlapping by
// 96 a 384x384 image decodes as 2 x 2 tiles (latent tiles of 32 starting at
// 0 and 16), so both seams and the four-way corner occur; 256x256 with
// 128/32 decodes 3 x 3 small tiles (latent 16, starting at 0, 12 and 16: an
// interior tile with four neighbours), which tile-local GroupNorm statistics
// missed by far (2.89/255) and the whole-latent head with shared statistics
// meets (0.52/255); see docs/performance.md.
import { afterAll, describe, expect, it } from "vitest";
import { type GenerateParams, loadModel, type Model, resolveParams, SdError } from "../lib/index.js";
import { meanAbsDiff } from "./helpers/reference.js";
import { TINY_SD1_DIFFUSERS } from "./helpers/tiny-sd1.js";

const SD1 = { family: "sd1", prediction: "epsilon" } as const;

function invalidTiling(vaeTiling: unknown, mention: string): void {
  let caught: unknown;
  try {
    resolveParams({ prompt: "x", vaeTiling } as GenerateParams, SD1);
  } catch (e) {
    caught = e;
  }
  expect(caught, `vaeTiling ${JSON.stringify(vaeTiling)}`).toBeInstanceOf(SdError);
  expect((caught as SdError).code).toBe("ERR_INVALID_OPTION");
  expect((caught as SdError).message).toMatch(/^vaeTiling:/);
  expect((caught as SdError).message).toContain(mention);
}

describe("vaeTiling validation", () => {
  it("resolves auto, booleans and tile sizes with their defaults", () => {
    const r = (vaeTiling: unknown) => resolveParams({ prompt: "x", vaeTiling } as GenerateParams, SD1).vaeTiling;
    expect(r(undefined)).toEqual({ mode: "auto", tileSize: 512, overlap: 128 });
    expect(r("auto")).toEqual({ mode: "auto", tileSize: 512, overlap: 128 });
    expect(r(true)).toEqual({ mode: "on", tileSize: 512, overlap: 128 });
    expect(r(false)).toEqual({ mode: "off", tileSize: 512, overlap: 128 });
    expect(r({})).toEqual({ mode: "on", tileSize: 512, overlap: 128 });
    expect(r({ tileSize: 512, overlap: 64 })).toEqual({ mode: "on", tileSize: 512, overlap: 64 });
    expect(r({ tileSize: 64, overlap: 0 })).toEqual({ mode: "on", tileSize: 64, overlap: 0 });
  });

  it("rejects bad values with ERR_INVALID_OPTION", () => {
    invalidTiling("on", '"auto", true, false');
    invalidTiling(1, '"auto", true, false');
    invalidTiling(null, '"auto", true, false');
    invalidTiling([512], '"auto", true, false');
    invalidTiling({ tile: 512 }, 'no option "tile"');
    invalidTiling({ tileSize: 60 }, "tileSize must be a multiple of 8");
    invalidTiling({ tileSize: 516 }, "tileSize must be a multiple of 8");
    invalidTiling({ tileSize: 8192 }, "tileSize must be a multiple of 8");
    invalidTiling({ tileSize: "512" }, "tileSize must be a multiple of 8");
    invalidTiling({ tileSize: 256, overlap: 128 }, "overlap must be");
    invalidTiling({ tileSize: 256, overlap: 12 }, "overlap must be");
    invalidTiling({ overlap: -8 }, "overlap must be");
    invalidTiling({ tileSize: 64 }, "overlap must be"); // the default overlap (128) does not fit a 64-pixel tile
  });
});

describe("tiled VAE decode through generate()", () => {
  let model: Promise<Model> | undefined;
  const tiny = () => {
    model ??= loadModel(TINY_SD1_DIFFUSERS);
    return model;
  };
  afterAll(async () => {
    await (await model)?.dispose();
  });
  const base = { prompt: "a red apple", negativePrompt: "", steps: 2, sampler: "euler", seed: 7 } as const;

  const tiledDiff = async (size: number, tileSize: number, overlap: number) => {
    const m = await tiny();
    const dims = { width: size, height: size };
    const whole = (await m.generate({ ...base, ...dims, vaeTiling: false })).images[0]?.data;
    const tiled = (await m.generate({ ...base, ...dims, vaeTiling: { tileSize, overlap } })).images[0]?.data;
    expect(whole && tiled).toBeTruthy();
    return whole && tiled ? meanAbsDiff(whole, tiled) : Number.NaN;
  };

  it("blends 2 x 2 tiles to within 1/255 mean of the whole decode", { timeout: 180_000 }, async () => {
    const diff = await tiledDiff(384, 256, 96);
    // The tiles really ran: the statistics are estimated and tile edges are zero-padded, so some pixels differ.
    expect(diff).toBeGreaterThan(0);
    expect(diff).toBeLessThanOrEqual(1);
  });

  it("blends 3 x 3 small tiles to within 1/255 mean of the whole decode", { timeout: 180_000 }, async () => {
    const diff = await tiledDiff(256, 128, 32);
    expect(diff).toBeGreaterThan(0);
    expect(diff).toBeLessThanOrEqual(1);
  });

  it('"auto" decodes small images whole (byte-equal to vaeTiling false)', { timeout: 180_000 }, async () => {
    const m = await tiny();
    const size = { width: 256, height: 256 };
    const whole = (await m.generate({ ...base, ...size, vaeTiling: false })).images[0]?.data;
    const auto = (await m.generate({ ...base, ...size })).images[0]?.data;
    expect(auto && whole && Buffer.from(auto).equals(Buffer.from(whole))).toBe(true);
  });
});
