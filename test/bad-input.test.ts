// The bad-input list through the public loadModel(): hostile and
// broken files are written to a temp folder at test time; each must reject
// with its stable code, quickly, and the process must stay usable.
import { cpSync, existsSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadModel, SdError } from "../lib/index.js";
import { Pickle } from "./helpers/pickle.js";
import { encodeSafetensors, rawSafetensors, readSafetensors } from "./helpers/safetensors.js";
import { TINY_SD1 as SD1, TINY_SD1_DIFFUSERS } from "./helpers/tiny-sd1.js";
import { storedZip } from "./helpers/zip.js";

let dir = "";

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
    ["header length beyond the file", () => rawSafetensors(`{${entry}}`, 12).subarray(0, 30)],
    ["header not JSON", () => rawSafetensors("{not json", 12)],
    ["header not an object", () => rawSafetensors('"text"', 12)],
    ["missing dtype", () => rawSafetensors('{"a":{"shape":[2,3],"data_offsets":[0,12]}}', 12)],
    ["unknown dtype", () => rawSafetensors('{"a":{"dtype":"F12","shape":[2,3],"data_offsets":[0,12]}}', 12)],
    [
      "shape disagrees with the byte span",
      () => rawSafetensors('{"a":{"dtype":"F16","shape":[3,3],"data_offsets":[0,12]}}', 12),
    ],
    ["offsets out of range", () => rawSafetensors('{"a":{"dtype":"F16","shape":[2,3],"data_offsets":[100,112]}}', 12)],
    [
      "overlapping offsets",
      () =>
        rawSafetensors(
          '{"a":{"dtype":"F16","shape":[3],"data_offsets":[0,6]},"b":{"dtype":"F16","shape":[3],"data_offsets":[2,8]}}',
          12,
        ),
    ],
    ["offsets not numbers", () => rawSafetensors('{"a":{"dtype":"F16","shape":[2,3],"data_offsets":[null,12]}}', 12)],
    [
      "shape overflow",
      () => rawSafetensors('{"a":{"dtype":"F32","shape":[4294967296,4294967296,4],"data_offsets":[0,12]}}', 12),
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
    await expectReject(file("vae-only.safetensors", encodeSafetensors(vae)), "ERR_MODEL_UNSUPPORTED", "vae");
  });

  it("a wrong-shaped weight is ERR_MODEL_FORMAT naming the tensor", async () => {
    const all = readSafetensors(SD1);
    const t = all.get("model.diffusion_model.time_embed.0.weight");
    if (!t) throw new Error("fixture lacks time_embed.0.weight");
    all.set("model.diffusion_model.time_embed.0.weight", { ...t, shape: [...t.shape].reverse() });
    await expectReject(
      file("wrong-shape.safetensors", encodeSafetensors(all)),
      "ERR_MODEL_FORMAT",
      "unet.time_embed.0.weight",
    );
  });

  it("a diffusers folder without unet/ is ERR_MODEL_UNSUPPORTED", async () => {
    const folder = join(dir, "no-unet");
    cpSync(TINY_SD1_DIFFUSERS, folder, { recursive: true });
    rmSync(join(folder, "unet"), { recursive: true });
    await expectReject(folder, "ERR_MODEL_UNSUPPORTED", "unet");
  });

  it("a 200k-tensor header is refused quickly (2 s wall-clock budget)", async () => {
    const parts: string[] = [];
    for (let i = 0; i < 200_000; i++)
      parts.push(`"t${i}":{"dtype":"F32","shape":[1],"data_offsets":[${4 * i},${4 * i + 4}]}`);
    const path = file("many.safetensors", rawSafetensors(`{${parts.join(",")}}`, 800_000));
    await expectReject(path, "ERR_MODEL_UNSUPPORTED", undefined, 2000);
  });
});

describe("PyTorch checkpoints", () => {
  const marker = join(tmpdir(), "sd-native-vitest-pwned");

  it("a pickle calling os.system is refused and not executed", async () => {
    if (existsSync(marker)) unlinkSync(marker);
    const pkl = new Pickle().op("cos\nsystem\n").str(`touch ${marker}`).op("\x85R").finish();
    await expectReject(file("evil.ckpt", storedZip([["archive/data.pkl", pkl]])), "ERR_MODEL_UNSUPPORTED", "os.system");
    expect(existsSync(marker)).toBe(false);
  });

  it("a pickle reaching builtins.eval through STACK_GLOBAL is refused", async () => {
    const pkl = new Pickle(4)
      .op("\x8c\x08builtins", "\x8c\x04eval", "\x93")
      .str(`__import__('os').system('touch ${marker}')`)
      .op("\x85R")
      .finish();
    await expectReject(
      file("evil2.pt", storedZip([["archive/data.pkl", pkl]])),
      "ERR_MODEL_UNSUPPORTED",
      "builtins.eval",
    );
    expect(existsSync(marker)).toBe(false);
  });

  it("a truncated zip is ERR_MODEL_FORMAT", async () => {
    const pkl = new Pickle().op("}").finish();
    const whole = storedZip([
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
