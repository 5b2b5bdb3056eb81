// A1111 textual-inversion .pt files through the public API: a torch.save zip
// (written here by hand: there is no torch) holding {"string_to_param": {"*":
// vectors}, "string_to_token": ..., "name": ...}, used from embeddingDir and
// from the embeddings option, gives the same pixels as the same vectors in the
// A1111 .safetensors layout. Reading and bad files: test/engine/test_lora_ti_pt.cpp.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadModel, type Model } from "../lib/index.js";
import { Pickle } from "./helpers/pickle.js";
import { FIXTURES, imageBytes, ReferenceFile } from "./helpers/reference.js";
import { TINY_SD1, TINY_SD1_OPTIONS } from "./helpers/tiny-sd1.js";
import { storedZip } from "./helpers/zip.js";

const TI = join(FIXTURES, "tiny-sd1-ti");
const PARAMS = { width: 64, height: 64, steps: 2, seed: 5, sampler: "euler" as const };

/** A1111's torch.save({"string_to_token": {"*": 265}, "string_to_param": {"*": vectors}, "name", "step"}). */
function a1111Pt(vectors: Buffer, n: number, dim: number): Buffer {
  const p = new Pickle().op("}", "(");
  p.str("string_to_token").op("}", "(").str("*").int(265).op("u");
  p.str("string_to_param")
    .op("}", "(")
    .str("*")
    .tensor(n * dim, [n, dim], [dim, 1])
    .op("u");
  p.str("name").str("tiny-style").str("step").int(3000).op("u");
  return storedZip([
    ["archive/data.pkl", p.finish()],
    ["archive/data/0", vectors],
    ["archive/version", Buffer.from("3\n")],
  ]);
}

let model: Model;
let dir: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "sd-ti-pt-"));
  const ref = new ReferenceFile(join(TI, "ref/ti.safetensors")).tensor("embedding");
  expect(ref.dtype).toBe("F32");
  const [n, dim] = ref.shape as [number, number];
  writeFileSync(join(dir, "tiny-style.pt"), a1111Pt(Buffer.from(ref.bytes), n, dim));
  model = await loadModel(TINY_SD1, {
    ...TINY_SD1_OPTIONS,
    embeddingDir: dir,
  });
});
afterAll(async () => {
  await model?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

describe("A1111 .pt embeddings", () => {
  it("embeddingDir's .pt and the option form equal the .safetensors layout, and change the image", async () => {
    const prompt = "a house in tiny-style";
    const fromDir = await model.generate({ ...PARAMS, prompt });
    const option = await model.generate({
      ...PARAMS,
      prompt: "a house in <s>",
      embeddings: [{ path: join(dir, "tiny-style.pt"), token: "<s>" }],
    });
    const safetensors = await model.generate({
      ...PARAMS,
      prompt: "a house in <s>",
      embeddings: [{ path: join(TI, "tiny-style.a1111.safetensors"), token: "<s>" }],
    });
    const none = await model.generate({ ...PARAMS, prompt: "a house in" });
    expect(imageBytes(fromDir).equals(imageBytes(safetensors))).toBe(true);
    expect(imageBytes(option).equals(imageBytes(safetensors))).toBe(true);
    expect(imageBytes(fromDir).equals(imageBytes(none))).toBe(false);
  });

  it("a damaged .pt is ERR_MODEL_FORMAT", async () => {
    const bad = join(dir, "bad.pt");
    writeFileSync(bad, Buffer.from("PK\x03\x04 truncated", "latin1"));
    await expect(model.generate({ ...PARAMS, prompt: "x", embeddings: [{ path: bad }] })).rejects.toMatchObject({
      code: "ERR_MODEL_FORMAT",
    });
  });
});
