// TAESD through the public API: decoder "taesd" (needs loadModel's taesd),
// full-size previews from TAESD, typed errors. The decode itself is checked
// against the reference in test/engine/test_taesd.cpp.
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadModel, type Model, type ProgressEvent } from "../lib/index.js";
import { FIXTURES } from "./helpers/reference.js";
import { TINY_SD1_OPTIONS as BASE, TINY_SD1 as CKPT } from "./helpers/tiny-sd1.js";

const PARAMS = { prompt: "a red fox", width: 64, height: 64, steps: 2, seed: 3, sampler: "euler" as const };

let model: Model;
beforeAll(async () => {
  model = await loadModel(CKPT, { ...BASE, taesd: join(FIXTURES, "taesd/diffusers") });
});
afterAll(async () => {
  await model?.dispose();
});

describe("TAESD", () => {
  it('decoder: "taesd" gives a full-size image different from the VAE decode', async () => {
    const t = await model.generate({ ...PARAMS, decoder: "taesd" });
    const v = await model.generate(PARAMS);
    expect(t.images[0]?.width).toBe(64);
    expect(t.images[0]?.height).toBe(64);
    expect(Buffer.from(t.images[0]?.data ?? []).equals(Buffer.from(v.images[0]?.data ?? []))).toBe(false);
  });

  it("previews come from TAESD at full resolution", async () => {
    const previews: ProgressEvent[] = [];
    await model.generate(PARAMS, { previewEvery: 1, onProgress: (e) => e.preview && previews.push(e) });
    expect(previews.length).toBe(2);
    expect(previews[0]?.preview?.width).toBe(64);
  });

  it("bad requests get typed errors", async () => {
    const plain = await loadModel(CKPT, BASE);
    try {
      await expect(plain.generate({ ...PARAMS, decoder: "taesd" })).rejects.toMatchObject({
        code: "ERR_INVALID_OPTION",
      });
    } finally {
      await plain.dispose();
    }
    await expect(model.generate({ ...PARAMS, decoder: "fast" as never })).rejects.toMatchObject({
      code: "ERR_INVALID_OPTION",
    });
    await expect(loadModel(CKPT, { ...BASE, taesd: join(FIXTURES, "taesd/none") })).rejects.toMatchObject({
      code: "ERR_MODEL_NOT_FOUND",
    });
    await expect(loadModel(CKPT, { ...BASE, taesd: CKPT })).rejects.toMatchObject({ code: "ERR_MODEL_FORMAT" });
  });
});
