// Textual inversion through the public API: the placeholder expands to the
// reference's ids (49408, 49409) and only as a whole word, both file layouts and the embeddingDir form
// give bit-identical images, the embedding changes the image, typed errors.
// The encoder output itself is checked against the reference in
// test/engine/test_ti.cpp.
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildEmbeddingTable, embeddingFilesFor, embeddingMismatch, withPlaceholders } from "../lib/embeddings.js";
import { loadModel, type Model } from "../lib/index.js";
import { encodePrompt, PAD_SD1 } from "../lib/prompt/index.js";
import { loadTokenizer } from "../lib/tokenizer/index.js";
import { FIXTURES, imageBytes, ReferenceFile } from "./helpers/reference.js";
import { CLIP, TINY_SD1, TINY_SD1_OPTIONS } from "./helpers/tiny-sd1.js";

const TI = join(FIXTURES, "tiny-sd1-ti");
const A1111 = join(TI, "tiny-style.a1111.safetensors");
const DIFFUSERS = join(TI, "learned_embeds.safetensors");
const PARAMS = {
  prompt: "a house in <tiny-style>",
  width: 64,
  height: 64,
  steps: 2,
  seed: 5,
  sampler: "euler" as const,
};

let model: Model;
let dir: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "sd-ti-"));
  copyFileSync(A1111, join(dir, "<tiny-style>.safetensors"));
  model = await loadModel(TINY_SD1, {
    ...TINY_SD1_OPTIONS,
    embeddingDir: dir,
  });
});
afterAll(async () => {
  await model?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

describe("textual inversion", () => {
  it("the placeholder expands to the reference ids", async () => {
    const ref = new ReferenceFile(join(TI, "ref/ti.safetensors"));
    const want = Array.from(
      new Int32Array(
        ref
          .tensor("p0.input_ids")
          .bytes.buffer.slice(
            ref.tensor("p0.input_ids").bytes.byteOffset,
            ref.tensor("p0.input_ids").bytes.byteOffset + 77 * 4,
          ),
      ),
    );
    const vectors = new Float32Array(64);
    const table = buildEmbeddingTable([
      { spec: { path: DIFFUSERS }, file: { token: "<tiny-style>", te1: vectors, dim1: 32 } },
    ]);
    expect(table.te1.get("<tiny-style>")).toEqual([49408, 49409]);
    const tok = withPlaceholders(await loadTokenizer(CLIP), table.te1);
    const ids = encodePrompt("a house in <tiny-style>", tok, { padId: PAD_SD1 }).chunks[0]?.ids;
    expect(ids).toEqual(want);
  });

  it("a placeholder matches only as a whole word (A1111: the name as whole tokens)", async () => {
    const clip = await loadTokenizer(CLIP);
    const table = new Map([
      ["cat", [49408]],
      ["<tiny-style>", [49409]],
    ]);
    const tok = withPlaceholders(clip, table);
    const inner = (text: string) => tok.encode(text).slice(1, -1);
    for (const text of ["category", "bobcat", "cat_toy", "cats", "cat2"]) {
      expect(inner(text), text).toEqual(clip.encode(text).slice(1, -1));
    }
    expect(inner("a cat, sitting")).toEqual([
      ...clip.encode("a").slice(1, -1),
      49408,
      ...clip.encode(", sitting").slice(1, -1),
    ]);
    expect(inner("(cat:1.2)")).toContain(49408);
    expect(inner("house<tiny-style>")).toEqual([...clip.encode("house").slice(1, -1), 49409]);

    const files = mkdtempSync(join(tmpdir(), "sd-ti-words-"));
    try {
      writeFileSync(join(files, "cat.safetensors"), "");
      expect(await embeddingFilesFor([], files, ["a category of things", "bobcat"])).toEqual([]);
      expect(await embeddingFilesFor([], files, ["a cat, sitting"])).toEqual([
        { path: join(files, "cat.safetensors"), token: "cat" },
      ]);
    } finally {
      rmSync(files, { recursive: true, force: true });
    }
  });

  it("both file layouts and the embeddingDir form give the same image, different from none", async () => {
    const a = await model.generate({ ...PARAMS, embeddings: [{ path: A1111, token: "<tiny-style>" }] });
    const d = await model.generate({ ...PARAMS, embeddings: [{ path: DIFFUSERS }] });
    const fromDir = await model.generate(PARAMS);
    const none = await model.generate({ ...PARAMS, prompt: "a house in" });
    expect(imageBytes(a).equals(imageBytes(d))).toBe(true);
    expect(imageBytes(a).equals(imageBytes(fromDir))).toBe(true);
    expect(imageBytes(a).equals(imageBytes(none))).toBe(false);
  });

  it("names match whatever their case, as in the web UI", async () => {
    const lower = await model.generate(PARAMS);
    const upper = await model.generate({ ...PARAMS, prompt: "a house in <TINY-Style>" });
    expect(imageBytes(upper).equals(imageBytes(lower))).toBe(true);
  });

  it("an embedding for another family: skipped with a warning from embeddingDir, refused by name", async () => {
    // 8-wide vectors; the tiny model's text encoder is 32 wide.
    const header = JSON.stringify({ emb_params: { dtype: "F32", shape: [1, 8], data_offsets: [0, 32] } });
    const file = Buffer.alloc(8 + header.length + 32);
    file.writeBigUInt64LE(BigInt(header.length));
    file.write(header, 8);
    const otherDir = mkdtempSync(join(tmpdir(), "sd-ti-other-"));
    writeFileSync(join(otherDir, "narrow.safetensors"), file);
    const warnings: string[] = [];
    const other = await loadModel(TINY_SD1, {
      ...TINY_SD1_OPTIONS,
      embeddingDir: otherDir,
      logger: (level, message) => level === "warn" && warnings.push(message),
    });
    try {
      const skipped = await other.generate({ ...PARAMS, prompt: "a house in narrow" });
      const plain = await model.generate({ ...PARAMS, prompt: "a house in narrow" });
      expect(imageBytes(skipped).equals(imageBytes(plain))).toBe(true);
      expect(warnings.join("\n")).toMatch(
        /narrow\.safetensors skipped: it has 8-wide vectors for the first text encoder, which takes 32/,
      );
      await expect(
        other.generate({ ...PARAMS, embeddings: [{ path: join(otherDir, "narrow.safetensors"), token: "narrow" }] }),
      ).rejects.toMatchObject({ code: "ERR_INVALID_OPTION" });
    } finally {
      await other.dispose();
      rmSync(otherDir, { recursive: true, force: true });
    }
  });

  it("embeddingMismatch: every encoder of the model at its width, none it lacks", () => {
    const sd1 = { modelDim1: 768 };
    const sdxl = { modelDim1: 768, modelDim2: 1280 };
    expect(embeddingMismatch({ token: "", dim1: 768, ...sd1 })).toBe("");
    expect(embeddingMismatch({ token: "", dim1: 768, dim2: 1280, ...sdxl })).toBe("");
    expect(embeddingMismatch({ token: "", dim1: 768, ...sdxl })).toMatch(/no vectors for the second text encoder/);
    expect(embeddingMismatch({ token: "", dim1: 768, dim2: 1280, ...sd1 })).toMatch(/this model does not have/);
    expect(embeddingMismatch({ token: "", dim1: 768, modelDim1: 1024 })).toMatch(/768-wide vectors .* takes 1024/);
  });

  it("bad embeddings get typed errors", async () => {
    await expect(
      model.generate({ ...PARAMS, embeddings: [{ path: join(dir, "none.safetensors") }] }),
    ).rejects.toMatchObject({
      code: "ERR_MODEL_NOT_FOUND",
    });
    const lora = join(FIXTURES, "tiny-sd1-lora/tiny-sd1-lora.kohya.safetensors");
    await expect(model.generate({ ...PARAMS, embeddings: [{ path: lora }] })).rejects.toMatchObject({
      code: "ERR_MODEL_FORMAT",
    });
    await expect(model.generate({ ...PARAMS, embeddings: [{ path: "" }] })).rejects.toMatchObject({
      code: "ERR_INVALID_OPTION",
    });
  });
});
