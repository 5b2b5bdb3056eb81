// loadModel(..., { vae }): a standalone VAE replaces the checkpoint's. The
// checkpoint's own VAE saved as a diffusers folder, an LDM file with and
// without the first_stage_model. prefix gives the same images; a changed VAE
// changes them as its weights say; bad files get typed errors.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadModel } from "../lib/index.js";
import { FIXTURES, meanAbsDiff, ReferenceFile } from "./helpers/reference.js";
import { encodeSafetensors, f32, readSafetensors, type StTensor } from "./helpers/safetensors.js";
import { TINY_SD1_OPTIONS as BASE, TINY_SD1 as CKPT, TINY_SD1_DIFFUSERS } from "./helpers/tiny-sd1.js";

const PARAMS = { prompt: "a red fox", width: 64, height: 64, steps: 2, seed: 7, sampler: "euler" as const };

/** The checkpoint's first_stage_model.* tensors, renamed by `rename` (undefined: dropped). */
function vaeTensors(rename: (ldm: string) => string | undefined): Map<string, StTensor> {
  const out = new Map<string, StTensor>();
  for (const [name, t] of readSafetensors(CKPT)) {
    if (!name.startsWith("first_stage_model.")) continue;
    const to = rename(name.slice("first_stage_model.".length));
    if (to !== undefined) out.set(to, t);
  }
  return out;
}

const writeSafetensors = (path: string, tensors: ReadonlyMap<string, StTensor>) =>
  writeFileSync(path, encodeSafetensors(tensors));

let tmp: string;
let baseImage: Uint8Array;

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), "sd-vae-"));
  const m = await loadModel(CKPT, BASE);
  try {
    baseImage = (await m.generate(PARAMS)).images[0]?.data ?? new Uint8Array();
  } finally {
    await m.dispose();
  }
});

afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function imageWith(vae: string): Promise<Uint8Array> {
  const m = await loadModel(CKPT, { ...BASE, vae });
  try {
    return (await m.generate(PARAMS)).images[0]?.data ?? new Uint8Array();
  } finally {
    await m.dispose();
  }
}

describe("loadModel vae option", () => {
  it("the same VAE as a diffusers vae/ folder reproduces the reference image", async () => {
    const ref = new ReferenceFile(join(FIXTURES, "tiny-sd1/ref/sample_euler.safetensors"));
    const p = ref.generateParams();
    const m = await loadModel(CKPT, { ...BASE, vae: join(TINY_SD1_DIFFUSERS, "vae") });
    try {
      const r = await m.generate({
        ...p,
        width: 128,
        height: 128,
        steps: 8,
        sampler: "euler",
      });
      expect(meanAbsDiff(r.images[0]?.data ?? new Uint8Array(), ref.u8("image_u8"))).toBeLessThanOrEqual(1.0);
    } finally {
      await m.dispose();
    }
  });

  it("LDM single files with and without the first_stage_model. prefix give the checkpoint's image", async () => {
    const bare = join(tmp, "bare.safetensors");
    writeSafetensors(
      bare,
      vaeTensors((n) => n),
    );
    const prefixed = join(tmp, "prefixed.safetensors");
    writeSafetensors(
      prefixed,
      vaeTensors((n) => `first_stage_model.${n}`),
    );
    expect(Buffer.from(await imageWith(bare)).equals(Buffer.from(baseImage))).toBe(true);
    expect(Buffer.from(await imageWith(prefixed)).equals(Buffer.from(baseImage))).toBe(true);
  });

  it("a different VAE's weights are the ones used", async () => {
    // decoder.conv_out.bias + 0.4 shifts every pixel by 0.2 * 255 = 51 before clamping: the mean rises.
    const tensors = vaeTensors((n) => n);
    const bias = tensors.get("decoder.conv_out.bias");
    if (bias?.dtype !== "F16") throw new Error("fixture: expected an F16 decoder.conv_out.bias");
    tensors.set("decoder.conv_out.bias", f32([3], [0.4, 0.4, 0.4]));
    const file = join(tmp, "brighter.safetensors");
    writeSafetensors(file, tensors);
    const img = await imageWith(file);
    const mean = (a: Uint8Array) => a.reduce((s, v) => s + v, 0) / a.length;
    expect(mean(img)).toBeGreaterThan(mean(baseImage) + 10);
  });

  it("bad VAE files get typed errors", async () => {
    await expect(loadModel(CKPT, { ...BASE, vae: join(tmp, "missing.safetensors") })).rejects.toMatchObject({
      code: "ERR_MODEL_NOT_FOUND",
    });
    await expect(loadModel(CKPT, { ...BASE, vae: CKPT })).rejects.toMatchObject({ code: "ERR_MODEL_FORMAT" });
    const partial = join(tmp, "partial.safetensors");
    writeSafetensors(
      partial,
      vaeTensors((n) => (n.startsWith("decoder.conv_out") ? undefined : n)),
    );
    await expect(loadModel(CKPT, { ...BASE, vae: partial })).rejects.toMatchObject({ code: "ERR_MODEL_FORMAT" });
    await expect(loadModel(CKPT, { ...BASE, vae: 3 as never })).rejects.toMatchObject({ code: "ERR_INVALID_OPTION" });
  });
});
