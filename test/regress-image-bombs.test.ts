// Regression tests for scripts/fuzz-js.mjs findings in the initImage/mask
// decoders: a few hundred bytes declaring a huge image made jpeg-js spend
// ~60 s and ~1.9 GB RSS (764-byte JPEG claiming 10000x10000) and pngjs ~100 s
// (116-byte PNG claiming 20000x20000) before failing or "succeeding". They
// must now be refused up front with ERR_INVALID_OPTION, while legitimate,
// highly compressed images still decode.
import { deflateSync } from "node:zlib";
import jpeg from "jpeg-js";
import { PNG } from "pngjs";
import { describe, expect, it } from "vitest";
import { decodeImageInput } from "../lib/image-input.js";

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(b: Uint8Array): number {
  let c = 0xffffffff;
  for (const x of b) c = (CRC_TABLE[(c ^ x) & 0xff] as number) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function smallPng(): Buffer {
  const png = new PNG({ width: 5, height: 3 });
  png.data = Buffer.alloc(5 * 3 * 4, 0x80);
  return PNG.sync.write(png, { colorType: 2 });
}

function smallJpeg(): Buffer {
  return jpeg.encode({ data: Buffer.alloc(9 * 7 * 4, 0x40), width: 9, height: 7 }, 90).data;
}

/** The PNG with its IHDR size rewritten and the chunk CRC repaired, as the fuzzer did. */
function pngClaiming(width: number, height: number): Buffer {
  const b = Buffer.from(smallPng());
  b.writeUInt32BE(width, 16);
  b.writeUInt32BE(height, 20);
  b.writeUInt32BE(crc32(b.subarray(12, 29)), 29);
  return b;
}

function jpegClaiming(width: number, height: number): Buffer {
  const b = Buffer.from(smallJpeg());
  const sof = b.indexOf(Buffer.from([0xff, 0xc0]));
  b.writeUInt16BE(height, sof + 5);
  b.writeUInt16BE(width, sof + 7);
  return b;
}

async function rejection(bytes: Uint8Array): Promise<{ code: string; ms: number }> {
  const t0 = performance.now();
  try {
    await decodeImageInput(bytes, "initImage");
  } catch (err) {
    return { code: (err as { code: string }).code, ms: performance.now() - t0 };
  }
  throw new Error("decoded without error");
}

describe("image decoders refuse sizes the file cannot hold", () => {
  it("a PNG declaring 20000x20000 in ~100 bytes", async () => {
    const r = await rejection(pngClaiming(20000, 20000));
    expect(r.code).toBe("ERR_INVALID_OPTION");
    expect(r.ms).toBeLessThan(5000);
  });

  it("a PNG declaring 4 giga-pixels", async () => {
    const r = await rejection(pngClaiming(0x10000, 0x10000));
    expect(r.code).toBe("ERR_INVALID_OPTION");
  });

  it("a JPEG declaring 10000x10000 in ~760 bytes", async () => {
    const r = await rejection(jpegClaiming(10000, 10000));
    expect(r.code).toBe("ERR_INVALID_OPTION");
    expect(r.ms).toBeLessThan(5000);
  });

  it("still decodes the untouched small images", async () => {
    expect((await decodeImageInput(smallPng(), "initImage")).width).toBe(5);
    expect((await decodeImageInput(smallJpeg(), "initImage")).height).toBe(7);
  });

  it("still decodes a maximally compressed solid 1024x1024 PNG (deflate ~1000:1)", async () => {
    // Built by hand with zlib level 9 so the ratio is as high as deflate gets.
    const w = 1024;
    const h = 1024;
    const raw = Buffer.alloc(h * (1 + w * 3)); // filter 0, black RGB rows
    const idat = deflateSync(raw, { level: 9 });
    const chunk = (type: string, data: Buffer): Buffer => {
      const body = Buffer.concat([Buffer.from(type, "latin1"), data]);
      const out = Buffer.alloc(12 + data.length);
      out.writeUInt32BE(data.length, 0);
      body.copy(out, 4);
      out.writeUInt32BE(crc32(body), 8 + data.length);
      return out;
    };
    const ihdr = Buffer.alloc(13);
    ihdr.writeUInt32BE(w, 0);
    ihdr.writeUInt32BE(h, 4);
    ihdr[8] = 8;
    ihdr[9] = 2;
    const png = Buffer.concat([
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
      chunk("IHDR", ihdr),
      chunk("IDAT", idat),
      chunk("IEND", Buffer.alloc(0)),
    ]);
    expect(raw.length / png.length).toBeGreaterThan(500); // the case the limit must allow
    const px = await decodeImageInput(png, "initImage");
    expect([px.width, px.height]).toEqual([w, h]);
  });

  it("still decodes a solid 512x512 JPEG", async () => {
    const bytes = jpeg.encode({ data: Buffer.alloc(512 * 512 * 4, 0x20), width: 512, height: 512 }, 50).data;
    const px = await decodeImageInput(bytes, "initImage");
    expect([px.width, px.height]).toEqual([512, 512]);
  });
});
