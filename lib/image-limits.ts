// Refuses an encoded initImage/mask whose declared size the file cannot
// justify, before pngjs / jpeg-js allocate for it: a few hundred hostile bytes
// can otherwise claim 100 megapixels and cost a minute of CPU and gigabytes of
// memory (found by scripts/fuzz-js.mjs).
import { invalidOption } from "./errors.js";

/** Largest decoded input accepted, in pixels (jpeg-js's own default ceiling). */
export const MAX_INPUT_PIXELS = 100_000_000;
// deflate expands at most ~1032:1, so a PNG's unfiltered rows can be at most
// ~1032x the file (1100 leaves room for headers).
const PNG_MAX_EXPANSION = 1100;
// Every 8x8 block of every JPEG scan costs at least one bit (a DC code), so a
// file of n bytes holds at most 8n blocks = 512n pixels (1024 for margin).
const JPEG_MAX_PIXELS_PER_BYTE = 1024;

const PNG_CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };

function pngDeclared(b: Uint8Array): { width: number; height: number; rawBytes: number } | undefined {
  // Signature (8), IHDR length (4) and type (4), then width, height, depth, color type.
  if (b.length < 26 || String.fromCharCode(...b.subarray(12, 16)) !== "IHDR") return undefined;
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const width = dv.getUint32(16);
  const height = dv.getUint32(20);
  const bits = (b[24] as number) * (PNG_CHANNELS[b[25] as number] ?? 4);
  return { width, height, rawBytes: height * (1 + Math.ceil((width * bits) / 8)) };
}

function jpegDeclared(b: Uint8Array): { width: number; height: number } | undefined {
  let p = 2;
  while (p + 4 <= b.length) {
    if (b[p] !== 0xff) return undefined;
    const m = b[p + 1] as number;
    if (m === 0xff) {
      p++; // fill byte
      continue;
    }
    if ((m >= 0xd0 && m <= 0xd8) || m === 0x01) {
      p += 2; // markers without a length
      continue;
    }
    if (m === 0xda || m === 0xd9) return undefined; // scan data / end before any frame header
    const len = ((b[p + 2] as number) << 8) | (b[p + 3] as number);
    // SOF0..SOF15 except DHT (c4), JPG (c8), DAC (cc): precision, height, width.
    if (m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc) {
      if (p + 9 > b.length) return undefined;
      return {
        height: ((b[p + 5] as number) << 8) | (b[p + 6] as number),
        width: ((b[p + 7] as number) << 8) | (b[p + 8] as number),
      };
    }
    p += 2 + len;
  }
  return undefined;
}

/** Throws ERR_INVALID_OPTION when a PNG/JPEG declares more pixels than allowed or than its bytes can hold. */
export function checkDeclaredSize(bytes: Uint8Array, name: string, format: "png" | "jpeg"): void {
  const d: { width: number; height: number; rawBytes?: number } | undefined =
    format === "png" ? pngDeclared(bytes) : jpegDeclared(bytes);
  if (!d) return; // malformed headers are the decoder's to report
  const pixels = d.width * d.height;
  if (pixels > MAX_INPUT_PIXELS) {
    throw invalidOption(
      name,
      `the image declares ${d.width}x${d.height} pixels; at most ${MAX_INPUT_PIXELS / 1e6} megapixels are accepted`,
    );
  }
  const justified =
    d.rawBytes !== undefined
      ? d.rawBytes <= PNG_MAX_EXPANSION * bytes.length
      : pixels <= JPEG_MAX_PIXELS_PER_BYTE * bytes.length;
  if (!justified) {
    throw invalidOption(
      name,
      `the ${format.toUpperCase()} declares ${d.width}x${d.height} pixels but is only ${bytes.length} bytes long (truncated or corrupt file)`,
    );
  }
}
