// The bad-input list through the public loadModel(): hostile and
// broken files are written to a temp folder at test time; each must reject
// with its stable code, quickly, and the process must stay usable.
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadModel, SdError } from "../lib/index.js";

const FIXTURES = join(__dirname, "..", "..", "shared", "fixtures");
const SD1 = join(FIXTURES, "tiny-sd1", "tiny-sd1.safetensors");
let dir = "";

function safetensors(header: string, dataBytes: number): Buffer {
  const h = Buffer.from(header, "utf8");
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(h.length));
  return Buffer.concat([len, h, Buffer.alloc(dataBytes, 1)]);
}

interface StTensor {
  dtype: string;
  shape: number[];
  data: Buffer;
}

function readSafetensors(path: string): Map<string, StTensor> {
  const buf = readFileSync(path);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString("utf8")) as Record<string, unknown>;
  const out = new Map<string, StTensor>();
  for (const [name, v] of Object.entries(header)) {
    if (name === "__metadata__") continue;
    const e = v as { dtype: string; shape: number[]; data_offsets: [number, number] };
    out.set(name, {
      dtype: e.dtype,
      shape: e.shape,
      data: buf.subarray(8 + n + e.data_offsets[0], 8 + n + e.data_offsets[1]),
    });
  }
  return out;
}

function writeSafetensors(tensors: Map<string, StTensor>): Buffer {
  const header: Record<string, unknown> = {};
  const parts: Buffer[] = [];
  let off = 0;
  for (const [name, t] of tensors) {
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [off, off + t.data.length] };
    parts.push(t.data);
    off += t.data.length;
  }
  const h = Buffer.from(JSON.stringify(header), "utf8");
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(h.length));
  return Buffer.concat([len, h, ...parts]);
}

const CRC_TABLE = Array.from({ length: 256 }, (_, i) => {
  let c = i;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(b: Buffer): number {
  let c = 0xffffffff;
  for (const x of b) c = (CRC_TABLE[(c ^ x) & 0xff] ?? 0) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

// Stored-entry zip, as torch.save writes it.
function zip(entries: [string, Buffer][]): Buffer {
  const parts: Buffer[] = [];
  const central: Buffer[] = [];
  let off = 0;
  for (const [name, data] of entries) {
    const n = Buffer.from(name);
    const crc = crc32(data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(n.length, 26);
    const cd = Buffer.alloc(46);
    cd.writeUInt32LE(0x02014b50, 0);
    cd.writeUInt16LE(20, 4);
    cd.writeUInt16LE(20, 6);
    cd.writeUInt32LE(crc, 16);
    cd.writeUInt32LE(data.length, 20);
    cd.writeUInt32LE(data.length, 24);
    cd.writeUInt16LE(n.length, 28);
    cd.writeUInt32LE(off, 42);
    parts.push(local, n, data);
    central.push(cd, n);
    off += 30 + n.length + data.length;
  }
  const cdBuf = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(cdBuf.length, 12);
  end.writeUInt32LE(off, 16);
  return Buffer.concat([...parts, cdBuf, end]);
}

// Protocol-2 pickle bytes from opcode pieces.
const str = (s: string) => {
  const b = Buffer.from(s);
  const len = Buffer.alloc(4);
  len.writeUInt32LE(b.length);
  return Buffer.concat([Buffer.from("X"), len, b]);
};
const pickle = (...parts: (string | Buffer)[]) =>
  Buffer.concat([
    Buffer.from([0x80, 2]),
    ...parts.map((p) => (typeof p === "string" ? Buffer.from(p, "latin1") : p)),
    Buffer.from("."),
  ]);

const file = (name: string, bytes: Buffer | string) => {
  const p = join(dir, name);
  writeFileSync(p, bytes);
  return p;
};

async function expectReject(path: string, code: string, needle?: string, limitMs = 1000) {
  const t0 = performance.now();
  const err = await loadModel(path).then(
    () => undefined,
    (e: unknown) => e,
  );
  const ms = performance.now() - t0;
  expect(err, `${path} was accepted`).toBeInstanceOf(SdError);
  expect(err).toBeInstanceOf(Error);
  expect((err as SdError).code).toBe(code);
  if (needle) expect((err as SdError).message).toContain(needle);
  expect(ms).toBeLessThan(limitMs);
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "sd-native-bad-"));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe("malformed safetensors are ERR_MODEL_FORMAT", () => {
  const entry = '"a":{"dtype":"F16","shape":[2,3],"data_offsets":[0,12]}';
  const cases: [string, () => Buffer][] = [
    ["empty file", () => Buffer.alloc(0)],
    ["truncated header", () => Buffer.from([0x10, 0, 0])],
    ["header length beyond the file", () => safetensors(`{${entry}}`, 12).subarray(0, 30)],
    ["header not JSON", () => safetensors("{not json", 12)],
    ["header not an object", () => safetensors('"text"', 12)],
    ["missing dtype", () => safetensors('{"a":{"shape":[2,3],"data_offsets":[0,12]}}', 12)],
    ["unknown dtype", () => safetensors('{"a":{"dtype":"F12","shape":[2,3],"data_offsets":[0,12]}}', 12)],
    [
      "shape disagrees with the byte span",
      () => safetensors('{"a":{"dtype":"F16","shape":[3,3],"data_offsets":[0,12]}}', 12),
    ],
    ["offsets out of range", () => safetensors('{"a":{"dtype":"F16","shape":[2,3],"data_offsets":[100,112]}}', 12)],
    [
      "overlapping offsets",
      () =>
        safetensors(
          '{"a":{"dtype":"F16","shape":[3],"data_offsets":[0,6]},"b":{"dtype":"F16","shape":[3],"data_offsets":[2,8]}}',
          12,
        ),
    ],
    ["offsets not numbers", () => safetensors('{"a":{"dtype":"F16","shape":[2,3],"data_offsets":[null,12]}}', 12)],
    [
      "shape overflow",
      () => safetensors('{"a":{"dtype":"F32","shape":[4294967296,4294967296,4],"data_offsets":[0,12]}}', 12),
    ],
  ];
  for (const [what, make] of cases) {
    it(what, async () => {
      await expectReject(file(`${what.replace(/\W+/g, "-")}.safetensors`, make()), "ERR_MODEL_FORMAT");
    });
  }
});

describe("well-formed files that are not runnable checkpoints", () => {
  it("a VAE-only file is ERR_MODEL_UNSUPPORTED naming what was found", async () => {
    const all = readSafetensors(SD1);
    const vae = new Map([...all].filter(([n]) => n.startsWith("first_stage_model.")));
    await expectReject(file("vae-only.safetensors", writeSafetensors(vae)), "ERR_MODEL_UNSUPPORTED", "vae");
  });

  it("a wrong-shaped weight is ERR_MODEL_FORMAT naming the tensor", async () => {
    const all = readSafetensors(SD1);
    const t = all.get("model.diffusion_model.time_embed.0.weight");
    if (!t) throw new Error("fixture lacks time_embed.0.weight");
    all.set("model.diffusion_model.time_embed.0.weight", { ...t, shape: [...t.shape].reverse() });
    await expectReject(
      file("wrong-shape.safetensors", writeSafetensors(all)),
      "ERR_MODEL_FORMAT",
      "unet.time_embed.0.weight",
    );
  });

  it("a diffusers folder without unet/ is ERR_MODEL_UNSUPPORTED", async () => {
    const folder = join(dir, "no-unet");
    cpSync(join(FIXTURES, "tiny-sd1", "diffusers"), folder, { recursive: true });
    rmSync(join(folder, "unet"), { recursive: true });
    await expectReject(folder, "ERR_MODEL_UNSUPPORTED", "unet");
  });

  it("a 200k-tensor header is refused quickly (2 s wall-clock budget)", async () => {
    const parts: string[] = [];
    for (let i = 0; i < 200_000; i++)
      parts.push(`"t${i}":{"dtype":"F32","shape":[1],"data_offsets":[${4 * i},${4 * i + 4}]}`);
    const path = file("many.safetensors", safetensors(`{${parts.join(",")}}`, 800_000));
    await expectReject(path, "ERR_MODEL_UNSUPPORTED", undefined, 2000);
  });
});

describe("PyTorch checkpoints", () => {
  const marker = join(tmpdir(), "sd-native-vitest-pwned");

  it("a pickle calling os.system is refused and not executed", async () => {
    if (existsSync(marker)) unlinkSync(marker);
    const pkl = pickle("cos\nsystem\n", str(`touch ${marker}`), "\x85R");
    await expectReject(file("evil.ckpt", zip([["archive/data.pkl", pkl]])), "ERR_MODEL_UNSUPPORTED", "os.system");
    expect(existsSync(marker)).toBe(false);
  });

  it("a pickle reaching builtins.eval through STACK_GLOBAL is refused", async () => {
    const pkl = Buffer.concat([
      Buffer.from([0x80, 4, 0x8c, 8]),
      Buffer.from("builtins"),
      Buffer.from([0x8c, 4]),
      Buffer.from("eval"),
      Buffer.from([0x93]),
      str(`__import__('os').system('touch ${marker}')`),
      Buffer.from("\x85R.", "latin1"),
    ]);
    await expectReject(file("evil2.pt", zip([["archive/data.pkl", pkl]])), "ERR_MODEL_UNSUPPORTED", "builtins.eval");
    expect(existsSync(marker)).toBe(false);
  });

  it("a truncated zip is ERR_MODEL_FORMAT", async () => {
    const pkl = pickle("}");
    const whole = zip([
      ["archive/data.pkl", pkl],
      ["archive/data/0", Buffer.alloc(64)],
    ]);
    await expectReject(file("cut.ckpt", whole.subarray(0, whole.length - 30)), "ERR_MODEL_FORMAT");
  });
});

describe("after all of that", () => {
  it("the process still loads a good model", async () => {
    const model = await loadModel(SD1);
    expect(model.info.family).toBe("sd1");
    await model.dispose();
  });
});
