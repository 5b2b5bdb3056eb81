// A1111 textual-inversion .pt files through the public API: a torch.save zip
// (written here by hand: there is no torch) holding {"string_to_param": {"*":
// vectors}, "string_to_token": ..., "name": ...}, used from embeddingDir and
// from the embeddings option, gives the same pixels as the same vectors in the
// A1111 .safetensors layout. Reading and bad files: test/engine/test_lora_ti_pt.cpp.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadModel, type Model } from "../lib/index.js";
import { FIXTURES, ReferenceFile, SHARED } from "./helpers/reference.js";

const TI = join(FIXTURES, "tiny-sd1-ti");
const PARAMS = { width: 64, height: 64, steps: 2, seed: 5, sampler: "euler" as const };

/** Pickle protocol 2 for the opcodes torch.save uses on this dict. */
class Pickle {
  #parts: Buffer[] = [Buffer.from([0x80, 0x02])];
  op(...codes: string[]): this {
    this.#parts.push(Buffer.from(codes.join(""), "latin1"));
    return this;
  }
  str(s: string): this {
    const b = Buffer.from(s, "utf8");
    const len = Buffer.alloc(4);
    len.writeUInt32LE(b.length);
    this.#parts.push(Buffer.from("X", "latin1"), len, b);
    return this;
  }
  int(v: number): this {
    const b = Buffer.alloc(5);
    b.write("J", "latin1");
    b.writeInt32LE(v, 1);
    this.#parts.push(b);
    return this;
  }
  global(module: string, name: string): this {
    return this.op(`c${module}\n${name}\n`);
  }
  tuple(values: number[]): this {
    this.op("(");
    for (const v of values) this.int(v);
    return this.op("t");
  }
  /** torch._utils._rebuild_tensor_v2(persistent FloatStorage "0", 0, shape, stride, False, OrderedDict()). */
  tensor(numel: number, shape: number[], stride: number[]): this {
    this.global("torch._utils", "_rebuild_tensor_v2").op("(");
    this.op("(").str("storage").global("torch", "FloatStorage").str("0").str("cpu").int(numel).op("t", "Q");
    this.int(0).tuple(shape).tuple(stride).op("\x89");
    return this.global("collections", "OrderedDict").op(")", "R", "t", "R");
  }
  finish(): Buffer {
    return Buffer.concat([...this.#parts, Buffer.from(".", "latin1")]);
  }
}

/** A zip of stored (uncompressed) entries, as torch.save writes it. */
function zip(entries: Array<[string, Buffer]>): Buffer {
  const out: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const [name, data] of entries) {
    const n = Buffer.from(name);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt32LE(crc32(data), 14);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(n.length, 26);
    const cd = Buffer.alloc(46);
    cd.writeUInt32LE(0x02014b50, 0);
    cd.writeUInt16LE(20, 4);
    cd.writeUInt16LE(20, 6);
    cd.writeUInt32LE(crc32(data), 16);
    cd.writeUInt32LE(data.length, 20);
    cd.writeUInt32LE(data.length, 24);
    cd.writeUInt16LE(n.length, 28);
    cd.writeUInt32LE(offset, 42);
    out.push(local, n, data);
    central.push(cd, n);
    offset += 30 + n.length + data.length;
  }
  const cdBytes = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(cdBytes.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...out, cdBytes, end]);
}

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
  return zip([
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
  model = await loadModel(join(FIXTURES, "tiny-sd1/tiny-sd1.safetensors"), {
    config: join(FIXTURES, "tiny-sd1/diffusers"),
    tokenizer: join(SHARED, "clip"),
    threads: 1,
    embeddingDir: dir,
  });
});
afterAll(async () => {
  await model?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

const bytes = (r: { images: Array<{ data: Uint8Array }> }) => Buffer.from(r.images[0]?.data ?? []);

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
    expect(bytes(fromDir).equals(bytes(safetensors))).toBe(true);
    expect(bytes(option).equals(bytes(safetensors))).toBe(true);
    expect(bytes(fromDir).equals(bytes(none))).toBe(false);
  });

  it("a damaged .pt is ERR_MODEL_FORMAT", async () => {
    const bad = join(dir, "bad.pt");
    writeFileSync(bad, Buffer.from("PK\x03\x04 truncated", "latin1"));
    await expect(model.generate({ ...PARAMS, prompt: "x", embeddings: [{ path: bad }] })).rejects.toMatchObject({
      code: "ERR_MODEL_FORMAT",
    });
  });
});
