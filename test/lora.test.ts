// LoRA through the public API: the reference Euler loop with the kohya LoRA at
// scale 0.7 (option and prompt-tag forms), exact restoration of the base
// model after a LoRA call, warnings for unknown keys, typed errors.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadModel, type Model } from "../lib/index.js";
import { FIXTURES, meanAbsDiff, ReferenceFile } from "./helpers/reference.js";
import { encodeSafetensors, f32 } from "./helpers/safetensors.js";
import { TINY_SD1, TINY_SD1_DIFFUSERS, TINY_SD1_OPTIONS } from "./helpers/tiny-sd1.js";

const LORA_DIR = join(FIXTURES, "tiny-sd1-lora");
const KOHYA = join(LORA_DIR, "tiny-sd1-lora.kohya.safetensors");
const PEFT = join(LORA_DIR, "tiny-sd1-lora.diffusers.safetensors");

const warnings: string[] = [];
let model: Model;
let tmp: string;

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), "sd-lora-"));
  model = await loadModel(TINY_SD1, {
    ...TINY_SD1_OPTIONS,
    loraDir: LORA_DIR,
    logLevel: "warn",
    logger: (level, message) => {
      if (level === "warn") warnings.push(message);
    },
  });
});

afterAll(async () => {
  await model?.dispose();
  rmSync(tmp, { recursive: true, force: true });
});

describe("LoRA", () => {
  const ref = new ReferenceFile(join(FIXTURES, "tiny-sd1-lora/ref/sample_euler_s070.safetensors"));
  const base = {
    ...ref.generateParams(),
    sampler: "euler" as const,
    scheduler: "discrete" as const,
  };

  it("loras option reproduces the reference image (kohya file, scale 0.7)", async () => {
    const r = await model.generate({ ...base, loras: [{ path: KOHYA, scale: 0.7 }] });
    expect(meanAbsDiff(r.images[0]?.data ?? new Uint8Array(), ref.u8("image_u8"))).toBeLessThanOrEqual(1.0);
    expect(r.timings.loadMs).toBeGreaterThan(0);
  });

  it("<lora:name:scale> in the prompt, resolved in loraDir, gives the same image", async () => {
    const r = await model.generate({ ...base, prompt: `${base.prompt}<lora:tiny-sd1-lora.diffusers:0.7>` });
    expect(meanAbsDiff(r.images[0]?.data ?? new Uint8Array(), ref.u8("image_u8"))).toBeLessThanOrEqual(1.0);
  });

  it("a generation without the LoRA is bit-identical before and after one with it", async () => {
    const small = { ...base, width: 64, height: 64, steps: 2 };
    const before = await model.generate(small);
    const withLora = await model.generate({ ...small, loras: [{ path: PEFT, scale: -1.5 }] });
    const after = await model.generate(small);
    expect(Buffer.from(after.images[0]?.data ?? []).equals(Buffer.from(before.images[0]?.data ?? []))).toBe(true);
    expect(Buffer.from(withLora.images[0]?.data ?? []).equals(Buffer.from(before.images[0]?.data ?? []))).toBe(false);
  });

  it("warns through the logger about keys it does not know", async () => {
    const q = "lora_unet_mid_block_attentions_0_transformer_blocks_0_attn1_to_q";
    const file = join(tmp, "partial.safetensors");
    writeFileSync(
      file,
      encodeSafetensors(
        new Map([
          [`${q}.lora_down.weight`, f32([1, 64], new Array(64).fill(0.01))],
          [`${q}.lora_up.weight`, f32([64, 1], new Array(64).fill(0.01))],
          ["lora_unet_something.diff", f32([1], [1])],
        ]),
      ),
    );
    warnings.length = 0;
    await model.generate({ ...base, width: 64, height: 64, steps: 1, loras: [{ path: file }] });
    expect(warnings.some((w) => w.includes("lora_unet_something.diff"))).toBe(true);
  });

  it("bad requests get typed errors", async () => {
    const small = { ...base, width: 64, height: 64, steps: 1 };
    await expect(model.generate({ ...small, loras: [{ path: TINY_SD1 }] })).rejects.toMatchObject({
      code: "ERR_LORA_FORMAT",
    });
    await expect(model.generate({ ...small, prompt: "a cat <lora:no-such-lora:1>" })).rejects.toMatchObject({
      code: "ERR_MODEL_NOT_FOUND",
    });
    await expect(model.generate({ ...small, prompt: "a cat <lora:../tiny-sd1/tiny-sd1:1>" })).rejects.toMatchObject({
      code: "ERR_INVALID_OPTION",
    });
    await expect(model.generate({ ...small, loras: [{ path: KOHYA, scale: Number.NaN }] })).rejects.toMatchObject({
      code: "ERR_INVALID_OPTION",
    });
    await expect(model.generate({ ...small, loras: "x" as never })).rejects.toMatchObject({
      code: "ERR_INVALID_OPTION",
    });
    const noDir = await loadModel(TINY_SD1_DIFFUSERS, { threads: 1 });
    try {
      await expect(noDir.generate({ ...small, prompt: "a cat <lora:x:1>" })).rejects.toMatchObject({
        code: "ERR_INVALID_OPTION",
      });
    } finally {
      await noDir.dispose();
    }
  });
});
