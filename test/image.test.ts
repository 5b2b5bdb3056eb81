import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import jpeg from "jpeg-js";
import { PNG } from "pngjs";
import { describe, expect, it } from "vitest";
import { decodeImageInput, orient, resize, toGray, toRgb } from "../lib/image-input.js";
import { Image, readPngText, resolveParams } from "../lib/index.js";
import { formatParameters } from "../lib/parameters.js";
import { addPngText } from "../lib/png-text.js";

const tmp = mkdtempSync(join(tmpdir(), "sd-native-image-"));

function gradient(width: number, height: number): Uint8Array {
  const d = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 3;
      d[o] = (x * 255) / Math.max(1, width - 1);
      d[o + 1] = (y * 255) / Math.max(1, height - 1);
      d[o + 2] = (x * 7 + y * 13) % 256;
    }
  }
  return d;
}

const PARAMS =
  "a lighthouse, (oil painting:1.2)\nNegative prompt: blurry\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 42, Size: 64x48, Model: tiny-sd1";

describe("Image.toPNG", () => {
  it("round-trips the pixels and the `parameters` tEXt chunk", async () => {
    const img = new Image(64, 48, gradient(64, 48), PARAMS);
    const png = await img.toPNG();
    const decoded = PNG.sync.read(png); // pngjs checks every chunk CRC
    expect([decoded.width, decoded.height]).toEqual([64, 48]);
    const rgb = new Uint8Array(64 * 48 * 3);
    for (let i = 0; i < 64 * 48; i++) rgb.set(decoded.data.subarray(i * 4, i * 4 + 3), i * 3);
    expect(Buffer.from(rgb).equals(Buffer.from(img.data))).toBe(true);
    expect(readPngText(png)).toEqual({ parameters: PARAMS });
    // Stored as a plain tEXt chunk (keyword, NUL, Latin-1 text) before the image data.
    const text = png.indexOf("tEXtparameters\0");
    expect(text).toBeGreaterThan(0);
    expect(text).toBeLessThan(png.indexOf("IDAT"));
  });

  it("stores non-Latin-1 prompts as UTF-8 iTXt", async () => {
    const p = "宇宙飛行士, astronaut 🚀\nSteps: 1";
    const png = await new Image(2, 2, new Uint8Array(12), p).toPNG();
    expect(png.indexOf("iTXtparameters")).toBeGreaterThan(0);
    expect(readPngText(png).parameters).toBe(p);
    expect(PNG.sync.read(png).width).toBe(2);
  });

  it("writes no text chunk when the image has no parameters", async () => {
    const png = await new Image(2, 1, new Uint8Array(6)).toPNG();
    expect(readPngText(png)).toEqual({});
  });

  it("rejects a corrupted text chunk when reading", async () => {
    const png = Buffer.from(await new Image(2, 1, new Uint8Array(6), "x").toPNG());
    const at = png.indexOf("tEXt") + 12;
    png[at] = (png[at] as number) ^ 1;
    expect(() => readPngText(png)).toThrow(/CRC/);
  });

  it("inserts the chunk into any PNG with a valid CRC (IEND CRC as a known value)", () => {
    const png = PNG.sync.write(Object.assign(new PNG({ width: 1, height: 1 }), { data: Buffer.alloc(4, 255) }));
    const withText = addPngText(png, "k", "v");
    expect(readPngText(withText)).toEqual({ k: "v" });
    expect(withText.readUInt32BE(withText.length - 4)).toBe(0xae426082); // CRC32("IEND")
  });

  it("validates its pixels", () => {
    expect(() => new Image(2, 2, new Uint8Array(11))).toThrow(/12 bytes/);
    expect(() => new Image(0, 2, new Uint8Array(0))).toThrow(/positive/);
  });
});

describe("Image.save", () => {
  it("writes a PNG with the parameters for .png", async () => {
    const path = join(tmp, "out.PNG");
    await new Image(4, 4, gradient(4, 4), PARAMS).save(path);
    expect(readPngText(readFileSync(path)).parameters).toBe(PARAMS);
  });

  it("explains how to get JPEG/WebP when sharp is not installed", async () => {
    let hasSharp = true;
    try {
      await import("sharp" as string);
    } catch {
      hasSharp = false;
    }
    const img = new Image(4, 4, gradient(4, 4));
    if (hasSharp) {
      await img.save(join(tmp, "out.jpg"));
      expect(readFileSync(join(tmp, "out.jpg"))[0]).toBe(0xff);
    } else {
      await expect(img.save(join(tmp, "out.jpg"))).rejects.toMatchObject({
        code: "ERR_INVALID_OPTION",
        message: expect.stringContaining("npm install sharp"),
      });
      await expect(img.save(join(tmp, "out.webp"))).rejects.toMatchObject({ code: "ERR_INVALID_OPTION" });
    }
  });

  it("rejects unknown extensions and unwritable paths", async () => {
    const img = new Image(1, 1, new Uint8Array(3));
    await expect(img.save(join(tmp, "out.gif"))).rejects.toMatchObject({ code: "ERR_INVALID_OPTION" });
    await expect(img.save(join(tmp, "no", "such", "dir", "x.png"))).rejects.toMatchObject({ code: "ERR_IO" });
  });
});

describe("parameters text (web UI format)", () => {
  const traits = { family: "sd1", prediction: "epsilon" } as const;
  it("formats a txt2img call like the web UI", () => {
    const p = resolveParams(
      {
        prompt: "a cat",
        negativePrompt: "blurry",
        width: 512,
        height: 768,
        seed: 42,
        scheduler: "karras",
        sampler: "dpm++2m",
      },
      traits,
    );
    expect(formatParameters(p, { model: "v1-5", batchIndex: 0 })).toBe(
      "a cat\nNegative prompt: blurry\nSteps: 20, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: 42, Size: 512x768, Model: v1-5, RNG: CPU",
    );
  });
  it("adds img2img, clip skip and batch fields, omits an empty negative prompt, quotes commas", () => {
    const init = { width: 1, height: 1, data: new Uint8Array(3) };
    const p = resolveParams(
      {
        prompt: "x",
        seed: 1,
        steps: 4,
        initImage: init,
        strength: 0.5,
        clipSkip: 2,
        batchSize: 2,
        width: 64,
        height: 64,
      },
      traits,
    );
    expect(formatParameters(p, { model: "my, model", batchIndex: 1 })).toBe(
      'x\nSteps: 4, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 64x64, Model: "my, model", Denoising strength: 0.5, Clip skip: 2, RNG: CPU, Batch size: 2, Batch pos: 1',
    );
  });
});

describe("image inputs", () => {
  const rgb = gradient(5, 3);
  const pngBuf = PNG.sync.write(
    Object.assign(new PNG({ width: 5, height: 3 }), {
      data: Buffer.from(
        Array.from({ length: 15 }, (_, i) => [rgb[i * 3], rgb[i * 3 + 1], rgb[i * 3 + 2], 255]).flat() as number[],
      ),
    }),
  );

  it("decodes a PNG from a Buffer and from a path", async () => {
    const fromBuf = toRgb(await decodeImageInput(pngBuf, "initImage"));
    expect([fromBuf.width, fromBuf.height, fromBuf.channels]).toEqual([5, 3, 3]);
    expect(Buffer.from(fromBuf.data).equals(Buffer.from(rgb))).toBe(true);
    const path = join(tmp, "in.png");
    writeFileSync(path, pngBuf);
    const fromPath = toRgb(await decodeImageInput(path, "initImage"));
    expect(Buffer.from(fromPath.data).equals(Buffer.from(rgb))).toBe(true);
  });

  it("decodes a JPEG (lossy: close to the source)", async () => {
    const w = 16;
    const h = 16;
    const rgba = Buffer.alloc(w * h * 4, 255);
    for (let i = 0; i < w * h; i++) rgba.set([100, 150, 200], i * 4);
    const jpg = jpeg.encode({ width: w, height: h, data: rgba }, 95).data;
    const px = await decodeImageInput(jpg, "initImage");
    expect([px.width, px.height, px.channels]).toEqual([16, 16, 3]);
    for (let i = 0; i < w * h * 3; i += 3) {
      expect(Math.abs((px.data[i] as number) - 100)).toBeLessThanOrEqual(3);
      expect(Math.abs((px.data[i + 2] as number) - 200)).toBeLessThanOrEqual(3);
    }
  });

  it("accepts raw gray, RGB and RGBA pixels", async () => {
    const gray = await decodeImageInput({ width: 2, height: 1, data: new Uint8Array([10, 20]) }, "mask");
    expect(gray.channels).toBe(1);
    expect([...toRgb(gray).data]).toEqual([10, 10, 10, 20, 20, 20]);
    const rgba = await decodeImageInput(
      { width: 1, height: 1, data: new Uint8ClampedArray([1, 2, 3, 4]) },
      "initImage",
    );
    expect([...toRgb(rgba).data]).toEqual([1, 2, 3]);
  });

  it("reports unreadable inputs as ERR_INVALID_OPTION naming the option", async () => {
    await expect(decodeImageInput(join(tmp, "missing.png"), "initImage")).rejects.toMatchObject({
      code: "ERR_INVALID_OPTION",
      message: expect.stringMatching(/^initImage: file not found/),
    });
    await expect(decodeImageInput(Buffer.from("GIF89a......"), "mask")).rejects.toMatchObject({
      code: "ERR_INVALID_OPTION",
      message: expect.stringMatching(/^mask: is neither a PNG nor a JPEG/),
    });
    const truncated = pngBuf.subarray(0, 40);
    await expect(decodeImageInput(truncated, "initImage")).rejects.toMatchObject({ code: "ERR_INVALID_OPTION" });
  });

  it("mask luma uses BT.601 weights", () => {
    const g = toGray({ width: 3, height: 1, channels: 3, data: new Uint8Array([255, 0, 0, 0, 255, 0, 255, 255, 255]) });
    expect([...g.data]).toEqual([76, 150, 255]);
  });
});

describe("phone photos and other real files", () => {
  // A JPEG with an EXIF APP1 segment (little-endian TIFF, IFD0 with Orientation = o) after SOI.
  const withOrientation = (jpg: Uint8Array, o: number): Buffer => {
    const tiff = Buffer.alloc(26);
    tiff.write("II*\0", 0, "latin1");
    tiff.writeUInt32LE(8, 4); // IFD0 offset
    tiff.writeUInt16LE(1, 8); // one entry
    tiff.writeUInt16LE(0x0112, 10); // Orientation
    tiff.writeUInt16LE(3, 12); // SHORT
    tiff.writeUInt32LE(1, 14);
    tiff.writeUInt16LE(o, 18);
    const payload = Buffer.concat([Buffer.from("Exif\0\0", "latin1"), tiff]);
    const app1 = Buffer.alloc(4);
    app1.writeUInt16BE(0xffe1, 0);
    app1.writeUInt16BE(payload.length + 2, 2);
    return Buffer.concat([Buffer.from(jpg.subarray(0, 2)), app1, payload, Buffer.from(jpg.subarray(2))]);
  };

  it("a JPEG with EXIF orientation 6 is used upright, as diffusers' load_image does", async () => {
    // Stored 32x16: left half red, right half blue. Rotated 90 degrees clockwise: 16x32, red on top.
    const data = Buffer.alloc(32 * 16 * 4);
    for (let y = 0; y < 16; y++)
      for (let x = 0; x < 32; x++) data.set(x < 16 ? [230, 20, 20, 255] : [20, 20, 230, 255], (y * 32 + x) * 4);
    const jpg = jpeg.encode({ width: 32, height: 16, data }, 95).data;
    const plain = await decodeImageInput(jpg, "initImage");
    expect([plain.width, plain.height]).toEqual([32, 16]);
    const turned = await decodeImageInput(withOrientation(jpg, 6), "initImage");
    expect([turned.width, turned.height]).toEqual([16, 32]);
    const at = (x: number, y: number) => [...turned.data.subarray((y * 16 + x) * 3, (y * 16 + x) * 3 + 3)];
    expect(at(8, 4)[0]).toBeGreaterThan(180); // red on top
    expect(at(8, 27)[2]).toBeGreaterThan(180); // blue below
  });

  it("orient: the eight EXIF orientations as Pillow's exif_transpose", () => {
    // Stored [[a b c], [d e f]] (3x2, one channel).
    const p = { width: 3, height: 2, channels: 1 as const, data: new Uint8Array([1, 2, 3, 4, 5, 6]) };
    const want: Record<number, [number, number, number[]]> = {
      1: [3, 2, [1, 2, 3, 4, 5, 6]],
      2: [3, 2, [3, 2, 1, 6, 5, 4]],
      3: [3, 2, [6, 5, 4, 3, 2, 1]],
      4: [3, 2, [4, 5, 6, 1, 2, 3]],
      5: [2, 3, [1, 4, 2, 5, 3, 6]],
      6: [2, 3, [4, 1, 5, 2, 6, 3]],
      7: [2, 3, [6, 3, 5, 2, 4, 1]],
      8: [2, 3, [3, 6, 2, 5, 1, 4]],
    };
    for (const [o, [w, h, data]] of Object.entries(want)) {
      const r = orient(p, Number(o));
      expect([r.width, r.height, [...r.data]], `orientation ${o}`).toEqual([w, h, data]);
    }
  });

  it("a PNG with bytes after IEND decodes, as libpng and browsers read it", async () => {
    const png = new PNG({ width: 2, height: 2 });
    png.data.fill(200);
    const bytes = Buffer.concat([PNG.sync.write(png), Buffer.from("leftover bytes of a cropped screenshot")]);
    const p = await decodeImageInput(bytes, "initImage");
    expect([p.width, p.height, p.data[0]]).toEqual([2, 2, 200]);
  });
});

describe("resize (stretch, bilinear, antialiased when shrinking)", () => {
  it("is the identity at the same size", () => {
    const p = { width: 5, height: 3, channels: 3 as const, data: gradient(5, 3) };
    expect(resize(p, 5, 3)).toBe(p);
  });
  it("keeps a constant image constant at any size", () => {
    const data = new Uint8Array(7 * 5 * 3).fill(123);
    for (const [w, h] of [
      [64, 64],
      [3, 2],
      [1, 1],
      [13, 29],
    ] as const) {
      const r = resize({ width: 7, height: 5, channels: 3, data }, w, h);
      expect(r.data.length).toBe(w * h * 3);
      expect(r.data.every((v) => v === 123)).toBe(true);
    }
  });
  it("shrinking blends neighbours with a triangle filter widened by the scale", () => {
    // 4 -> 2 pixels: scale 2, support 2. Output 0 is centred at 1.0: taps 0, 1, 2 with weights .75, .75, .25;
    // output 1 at 3.0: taps 1, 2, 3 with weights .25, .75, .75 (normalized by 1.75). Rows are identical.
    const r = resize(
      { width: 4, height: 2, channels: 1, data: new Uint8Array([0, 100, 200, 40, 0, 100, 200, 40]) },
      2,
      1,
    );
    expect([...r.data]).toEqual([Math.round((0.75 * 100 + 0.25 * 200) / 1.75), Math.round((25 + 150 + 30) / 1.75)]);
  });
  it("refuses a strip too elongated for the intermediate (typed, no RangeError)", () => {
    const strip = { width: 1, height: 2 ** 26, channels: 1 as const, data: new Uint8Array(0) };
    expect(() => resize(strip, 64, 64, "initImage")).toThrow(
      expect.objectContaining({ code: "ERR_INVALID_OPTION", message: expect.stringMatching(/^initImage: /) }),
    );
  });
  it("upscaling a 2-pixel ramp is monotone and keeps the end values", () => {
    const r = resize({ width: 2, height: 1, channels: 1, data: new Uint8Array([0, 200]) }, 8, 1);
    const v = [...r.data];
    for (let i = 1; i < v.length; i++) expect(v[i]).toBeGreaterThanOrEqual(v[i - 1] as number);
    expect(v[0]).toBe(0);
    expect(v[7]).toBe(200);
  });
});
