// Numerical health (issue 9): NaN/Inf appearing in the latents or the decoded
// image is reported as ERR_NUMERICAL naming the stage, never returned as a
// black or garbage image. The checkpoints are copies of tiny-sd1 (in a temp
// folder) with one F16 bias of the U-Net's or the VAE decoder's output conv
// overwritten with NaN or Inf.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadModel, type ProgressEvent } from "../lib/index.js";
import { CHEAP, CLIP, TINY_SD1 } from "./helpers/stress.js";

const F16_NAN = 0x7e00;
const F16_INF = 0x7c00;

/** A copy of tiny-sd1 with every element of F16 tensor `name` set to `bits`. */
function poisoned(dir: string, name: string, bits: number): string {
  const buf = Buffer.from(readFileSync(TINY_SD1));
  const headerLength = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + headerLength).toString("utf8"));
  const entry = header[name] as { dtype: string; data_offsets: [number, number] };
  if (entry?.dtype !== "F16") throw new Error(`${name}: expected an F16 tensor`);
  const start = 8 + headerLength;
  for (let o = entry.data_offsets[0]; o < entry.data_offsets[1]; o += 2) buf.writeUInt16LE(bits, start + o);
  const file = join(dir, `${name.replaceAll(".", "_")}.safetensors`);
  writeFileSync(file, buf);
  return file;
}

describe("stress: numerical health", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "sd-nan-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  async function outcome(file: string) {
    const model = await loadModel(file, { tokenizer: CLIP, threads: 1 });
    const stages: string[] = [];
    try {
      const err = await model
        .generate(CHEAP, { onProgress: (e: ProgressEvent) => stages.push(`${e.stage} ${e.step}`) })
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      // The model stays usable for the next call (which fails the same way).
      await expect(model.generate(CHEAP)).rejects.toMatchObject({ code: "ERR_NUMERICAL" });
      return { err: err as { code?: string; message?: string } | undefined, stages };
    } finally {
      await model.dispose();
    }
  }

  it("NaN from the U-Net is ERR_NUMERICAL during denoising, before any decode", async () => {
    const { err, stages } = await outcome(poisoned(dir, "model.diffusion_model.out.2.bias", F16_NAN));
    expect(err).toMatchObject({
      code: "ERR_NUMERICAL",
      message: expect.stringMatching(/sampling .*NaN\/Inf at step 1/),
    });
    expect(stages.some((s) => s.startsWith("decode"))).toBe(false);
  });

  it("Inf from the VAE decoder is ERR_NUMERICAL during VAE decoding", async () => {
    const { err, stages } = await outcome(poisoned(dir, "first_stage_model.decoder.conv_out.bias", F16_INF));
    expect(err).toMatchObject({ code: "ERR_NUMERICAL", message: expect.stringMatching(/during VAE decoding/) });
    expect(stages).toContain("decode 0");
  });

  it("the unmodified checkpoint generates (the poison, not the copy, causes the errors)", async () => {
    const file = join(dir, "copy.safetensors");
    writeFileSync(file, readFileSync(TINY_SD1));
    const model = await loadModel(file, { tokenizer: CLIP, threads: 1 });
    try {
      expect((await model.generate(CHEAP)).images).toHaveLength(1);
    } finally {
      await model.dispose();
    }
  });
});
