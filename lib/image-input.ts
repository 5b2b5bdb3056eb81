// initImage / mask inputs: a path, an encoded PNG/JPEG, or raw pixels ->
// pixels of the requested size. Decoding through pngjs and jpeg-js.
import { readFile } from "node:fs/promises";
import jpeg from "jpeg-js";
import { PNG } from "pngjs";
import { invalidOption, SdError } from "./errors.js";
import { checkDeclaredSize } from "./image-limits.js";
import type { ImageInput } from "./options.js";

/** Decoded 8-bit pixels, row-major, `channels` interleaved (1 gray, 3 RGB, 4 RGBA). */
export interface Pixels {
  width: number;
  height: number;
  channels: 1 | 3 | 4;
  data: Uint8Array;
}

function isPng(b: Uint8Array): boolean {
  return b.length > 8 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47;
}
function isJpeg(b: Uint8Array): boolean {
  return b.length > 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff;
}

/**
 * The PNG up to the end of its IEND chunk: bytes after it (left by cropping
 * tools, or appended by others) are ignored, as libpng and browsers do; pngjs
 * would refuse them.
 */
function throughIend(b: Buffer): Buffer {
  let at = 8;
  while (at + 12 <= b.length) {
    const length = b.readUInt32BE(at);
    if (b.toString("latin1", at + 4, at + 8) === "IEND") return b.subarray(0, Math.min(b.length, at + 12 + length));
    at += 12 + length;
  }
  return b;
}

/** EXIF Orientation (1..8) from a JPEG's APP1 payload, 1 when absent or unreadable. */
export function exifOrientation(exif: Uint8Array | undefined): number {
  if (!exif) return 1;
  const b = Buffer.from(exif.buffer, exif.byteOffset, exif.byteLength);
  // The TIFF header ("II*\0" or "MM\0*") follows the "Exif\0\0" marker, partly stripped by the decoder.
  let tiff = -1;
  for (let i = 0; i + 4 <= Math.min(b.length, 16); i++) {
    const tag = b.toString("latin1", i, i + 4);
    if (tag === "II*\0" || tag === "MM\0*") {
      tiff = i;
      break;
    }
  }
  if (tiff < 0) return 1;
  const le = b[tiff] === 0x49;
  const u16 = (o: number) => (o + 2 <= b.length ? (le ? b.readUInt16LE(o) : b.readUInt16BE(o)) : 0);
  const u32 = (o: number) => (o + 4 <= b.length ? (le ? b.readUInt32LE(o) : b.readUInt32BE(o)) : 0);
  const ifd = tiff + u32(tiff + 4);
  const entries = u16(ifd);
  for (let k = 0; k < entries; k++) {
    const e = ifd + 2 + 12 * k;
    if (u16(e) === 0x0112) {
      const v = u16(e + 8);
      return v >= 1 && v <= 8 ? v : 1;
    }
  }
  return 1;
}

/**
 * The upright image of a stored one with EXIF orientation `o` (as Pillow's
 * exif_transpose, which diffusers' load_image applies): 2 mirror, 3 rotate
 * 180, 4 flip, 5 transpose, 6 rotate 90 clockwise, 7 transverse, 8 rotate 90
 * counter-clockwise.
 */
export function orient(p: Pixels, o: number): Pixels {
  if (o <= 1 || o > 8) return p;
  const { width: W, height: H, channels: ch } = p;
  const swap = o >= 5;
  const w = swap ? H : W;
  const h = swap ? W : H;
  // Source pixel of upright pixel (x, y): sx = ax x + bx y + cx, sy = ay x + by y + cy.
  const [ax, bx, cx, ay, by, cy] = [
    [1, 0, 0, 0, 1, 0],
    [-1, 0, W - 1, 0, 1, 0],
    [-1, 0, W - 1, 0, -1, H - 1],
    [1, 0, 0, 0, -1, H - 1],
    [0, 1, 0, 1, 0, 0],
    [0, 1, 0, -1, 0, H - 1],
    [0, -1, W - 1, -1, 0, H - 1],
    [0, -1, W - 1, 1, 0, 0],
  ][o - 1] as number[] as [number, number, number, number, number, number];
  const out = new Uint8Array(p.data.length);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const from = ((ay * x + by * y + cy) * W + (ax * x + bx * y + cx)) * ch;
      const to = (y * w + x) * ch;
      for (let c = 0; c < ch; c++) out[to + c] = p.data[from + c] as number;
    }
  }
  return { width: w, height: h, channels: ch, data: out };
}

function decodeEncoded(bytes: Uint8Array, name: string): Pixels {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (isPng(buf) || isJpeg(buf)) checkDeclaredSize(buf, name, isPng(buf) ? "png" : "jpeg");
  try {
    if (isPng(buf)) {
      const png = PNG.sync.read(throughIend(buf)); // always RGBA, 8-bit
      return { width: png.width, height: png.height, channels: 4, data: new Uint8Array(png.data) };
    }
    if (isJpeg(buf)) {
      const img = jpeg.decode(buf, { useTArray: true, formatAsRGBA: false, maxMemoryUsageInMB: 1024 });
      // Phone photos are stored rotated with an EXIF orientation: use them upright.
      const exif = (img as { exifBuffer?: Uint8Array }).exifBuffer; // returned by jpeg-js, not in its typings
      return orient({ width: img.width, height: img.height, channels: 3, data: img.data }, exifOrientation(exif));
    }
  } catch (err) {
    throw new SdError("ERR_INVALID_OPTION", `${name}: cannot decode the image: ${(err as Error).message}`, {
      cause: err,
    });
  }
  throw invalidOption(name, "is neither a PNG nor a JPEG image");
}

/** Decodes any accepted image input (already shape-checked by resolveParams). */
export async function decodeImageInput(input: ImageInput, name: string): Promise<Pixels> {
  if (typeof input === "string") {
    let bytes: Buffer;
    try {
      bytes = await readFile(input);
    } catch (err) {
      const code = (err as { code?: string }).code;
      throw code === "ENOENT"
        ? invalidOption(name, `file not found: ${input}`)
        : new SdError("ERR_IO", `${name}: cannot read ${input}: ${(err as Error).message}`, { cause: err });
    }
    return decodeEncoded(bytes, name);
  }
  if (input instanceof Uint8Array) return decodeEncoded(input, name);
  const px = input.width * input.height;
  const channels = (input.data.length / px) as 1 | 3 | 4;
  return { width: input.width, height: input.height, channels, data: new Uint8Array(input.data) };
}

/** RGB view of any pixels (gray is replicated, alpha dropped). */
export function toRgb(p: Pixels): Pixels {
  if (p.channels === 3) return p;
  const n = p.width * p.height;
  const out = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < 3; c++) out[i * 3 + c] = p.data[i * p.channels + (p.channels === 1 ? 0 : c)] as number;
  }
  return { width: p.width, height: p.height, channels: 3, data: out };
}

/** Single-channel mask: the luma (BT.601) of RGB(A) pixels, 255 = repaint. */
export function toGray(p: Pixels): Pixels {
  if (p.channels === 1) return p;
  const n = p.width * p.height;
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const o = i * p.channels;
    out[i] = Math.round(
      0.299 * (p.data[o] as number) + 0.587 * (p.data[o + 1] as number) + 0.114 * (p.data[o + 2] as number),
    );
  }
  return { width: p.width, height: p.height, channels: 1, data: out };
}

// Per output index: the contributing source range and normalized weights of a
// triangle (bilinear) filter, widened by the scale when shrinking (antialiasing,
// as Pillow's BILINEAR does).
function filterTaps(src: number, dst: number): Array<{ start: number; weights: Float64Array }> {
  const scale = src / dst;
  const support = Math.max(scale, 1);
  const taps = [];
  for (let x = 0; x < dst; x++) {
    const center = (x + 0.5) * scale;
    const start = Math.max(0, Math.floor(center - support));
    const end = Math.min(src, Math.ceil(center + support));
    const weights = new Float64Array(end - start);
    let sum = 0;
    for (let i = start; i < end; i++) {
      const w = Math.max(0, 1 - Math.abs(i + 0.5 - center) / support);
      weights[i - start] = w;
      sum += w;
    }
    for (let i = 0; i < weights.length; i++) weights[i] = (weights[i] as number) / sum;
    taps.push({ start, weights });
  }
  return taps;
}

/** Largest intermediate of resize(), in values (an 8192-row source to 4096 RGBA columns). */
const MAX_RESIZE_VALUES = 2 ** 27;

/** Stretches `p` to width x height (aspect ratio not kept) with a separable bilinear filter. */
export function resize(p: Pixels, width: number, height: number, name = "image"): Pixels {
  if (p.width === width && p.height === height) return p;
  const ch = p.channels;
  // The horizontal pass keeps every source row: a 1 x 2^26 strip would need gigabytes.
  if (p.height * width * ch > MAX_RESIZE_VALUES) {
    throw invalidOption(name, `${p.width}x${p.height} is too elongated to resize to ${width}x${height}`);
  }
  const xs = filterTaps(p.width, width);
  const ys = filterTaps(p.height, height);
  const tmp = new Float64Array(p.height * width * ch); // [src h, dst w, ch]
  for (let y = 0; y < p.height; y++) {
    for (let x = 0; x < width; x++) {
      const { start, weights } = xs[x] as { start: number; weights: Float64Array };
      for (let c = 0; c < ch; c++) {
        let acc = 0;
        for (let k = 0; k < weights.length; k++)
          acc += (weights[k] as number) * (p.data[(y * p.width + start + k) * ch + c] as number);
        tmp[(y * width + x) * ch + c] = acc;
      }
    }
  }
  const out = new Uint8Array(height * width * ch); // [dst h, dst w, ch]
  for (let y = 0; y < height; y++) {
    const { start, weights } = ys[y] as { start: number; weights: Float64Array };
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < ch; c++) {
        let acc = 0;
        for (let k = 0; k < weights.length; k++)
          acc += (weights[k] as number) * (tmp[((start + k) * width + x) * ch + c] as number);
        out[(y * width + x) * ch + c] = Math.min(255, Math.max(0, Math.round(acc)));
      }
    }
  }
  return { width, height, channels: ch, data: out };
}
