import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadModel } from "../lib/index.js";

const FIXTURES = join(__dirname, "..", "..", "shared", "fixtures");
const fx = (...p: string[]) => join(FIXTURES, ...p);

describe("loadModel: every fixture form", () => {
  const cases = [
    {
      path: fx("tiny-sd1", "tiny-sd1.safetensors"),
      family: "sd1",
      format: "safetensors",
      prediction: "epsilon",
      inpaint: false,
    },
    { path: fx("tiny-sd1", "diffusers"), family: "sd1", format: "diffusers", prediction: "epsilon", inpaint: false },
    { path: fx("tiny-sd2", "diffusers"), family: "sd2", format: "diffusers", prediction: "v", inpaint: false },
    {
      path: fx("tiny-sdxl", "tiny-sdxl.safetensors"),
      family: "sdxl",
      format: "safetensors",
      prediction: "epsilon",
      inpaint: false,
    },
    { path: fx("tiny-sdxl", "diffusers"), family: "sdxl", format: "diffusers", prediction: "epsilon", inpaint: false },
    {
      path: fx("tiny-sd1-inpaint", "tiny-sd1-inpaint.safetensors"),
      family: "sd1",
      format: "safetensors",
      prediction: "epsilon",
      inpaint: true,
    },
    {
      path: fx("tiny-sd1", "gguf", "tiny-sd1.f16.gguf"),
      family: "sd1",
      format: "gguf",
      prediction: "epsilon",
      inpaint: false,
    },
    {
      path: fx("tiny-sd1-inpaint", "diffusers"),
      family: "sd1",
      format: "diffusers",
      prediction: "epsilon",
      inpaint: true,
    },
  ] as const;

  for (const c of cases) {
    it(`${c.path.slice(FIXTURES.length + 1)} -> ${c.family}`, async () => {
      const model = await loadModel(c.path);
      const info = model.info;
      await model.dispose();
      expect(info.family).toBe(c.family);
      expect(info.format).toBe(c.format);
      expect(info.prediction).toBe(c.prediction);
      expect(info.inpaint).toBe(c.inpaint);
      expect(info.fileSize).toBeGreaterThan(0);
      const comps = Object.keys(info.components).sort();
      expect(comps).toEqual(c.family === "sdxl" ? ["te1", "te2", "unet", "vae"] : ["te1", "unet", "vae"]);
      let sum = 0;
      for (const comp of Object.values(info.components)) {
        expect(comp.dtype).toBe("f16");
        sum += comp.parameterCount;
      }
      expect(info.parameterCount).toBe(sum);
    });
  }

  it("the single file and the folder of tiny-sd1 report the same parameters", async () => {
    const a = await loadModel(fx("tiny-sd1", "tiny-sd1.safetensors"), { config: fx("tiny-sd1", "diffusers") });
    const b = await loadModel(fx("tiny-sd1", "diffusers"));
    expect(a.info.components).toEqual(b.info.components);
    await a.dispose();
    await b.dispose();
  });

  it("rejects a config option that is not a folder", async () => {
    await expect(
      loadModel(fx("tiny-sd1", "tiny-sd1.safetensors"), { config: fx("tiny-sd1", "README.md") }),
    ).rejects.toMatchObject({ code: "ERR_INVALID_OPTION" });
  });
});
