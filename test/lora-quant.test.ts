// LoRA on a q8_0 model through the public API: the run-time side paths
// reproduce the reference Euler loop within q8_0's own rounding, and a
// generation without the LoRA is bit-identical before and after one with it.
// (Side path vs dequantize-then-merge: test/engine/test_lora_quant.cpp.)
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadModel, type Model } from "../lib/index.js";
import { FIXTURES, meanAbsDiff, ReferenceFile } from "./helpers/reference.js";
import { TINY_SD1, TINY_SD1_OPTIONS } from "./helpers/tiny-sd1.js";

const KOHYA = join(FIXTURES, "tiny-sd1-lora", "tiny-sd1-lora.kohya.safetensors");

let q8: Model;
beforeAll(async () => {
  q8 = await loadModel(TINY_SD1, {
    ...TINY_SD1_OPTIONS,
    weightType: "q8_0",
  });
});
afterAll(async () => {
  await q8?.dispose();
});

describe("LoRA on a q8_0 model (run-time side paths)", () => {
  const ref = new ReferenceFile(join(FIXTURES, "tiny-sd1-lora/ref/sample_euler_s070.safetensors"));
  const base = {
    ...ref.generateParams(),
    sampler: "euler" as const,
    scheduler: "discrete" as const,
  };

  it("is close to the f32 reference image and far from the image without the LoRA", async () => {
    const withLora = await q8.generate({ ...base, loras: [{ path: KOHYA, scale: 0.7 }] });
    const without = await q8.generate(base);
    const refImage = ref.u8("image_u8");
    const close = meanAbsDiff(withLora.images[0]?.data ?? new Uint8Array(), refImage);
    const far = meanAbsDiff(without.images[0]?.data ?? new Uint8Array(), refImage);
    // q8_0 rounding of the base weights bounds the agreement (test_lora.cpp: U-Net rel 2e-2).
    expect(close).toBeLessThan(far / 4);
  });

  it("a generation without the LoRA is bit-identical before and after one with it", async () => {
    const small = { ...base, width: 64, height: 64, steps: 2 };
    const before = await q8.generate(small);
    const withLora = await q8.generate({ ...small, loras: [{ path: KOHYA, scale: -1.5 }] });
    const after = await q8.generate(small);
    expect(Buffer.from(after.images[0]?.data ?? []).equals(Buffer.from(before.images[0]?.data ?? []))).toBe(true);
    expect(Buffer.from(withLora.images[0]?.data ?? []).equals(Buffer.from(before.images[0]?.data ?? []))).toBe(false);
  });
});
