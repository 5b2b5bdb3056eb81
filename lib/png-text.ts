// PNG text chunks. pngjs encodes and decodes pixels but neither writes nor
// exposes tEXt/iTXt chunks, so the one chunk we need is spliced into its output
// here (and read back by walking the chunk list); no pixel or deflate code.
import * as zlib from "node:zlib";
import { SdError } from "./errors.js";

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

// zlib.crc32 exists from Node 20.15 / 22.2; older Node 20 gets the table version.
let crcTable: Uint32Array | undefined;
function crc32(data: Uint8Array): number {
  const native = (zlib as { crc32?: (d: Uint8Array) => number }).crc32;
  if (native) return native(data);
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let c = 0xffffffff;
  for (const b of data) c = (crcTable[(c ^ b) & 0xff] as number) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, body: Buffer): Buffer {
  const out = Buffer.alloc(12 + body.length);
  out.writeUInt32BE(body.length, 0);
  out.write(type, 4, "latin1");
  body.copy(out, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + body.length)), 8 + body.length);
  return out;
}

function isLatin1(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 0xff) return false;
  return true;
}

/**
 * Returns `png` with a text chunk `keyword` = `text` right after IHDR. Like
 * Pillow (what the common SD web UIs use): tEXt when the text is Latin-1,
 * otherwise an uncompressed iTXt with UTF-8 text.
 */
export function addPngText(png: Buffer, keyword: string, text: string): Buffer {
  if (!png.subarray(0, 8).equals(SIGNATURE) || png.toString("latin1", 12, 16) !== "IHDR") {
    throw new SdError("ERR_INTERNAL", "not a PNG stream");
  }
  const ihdrEnd = 8 + 12 + png.readUInt32BE(8);
  const key = Buffer.from(keyword, "latin1");
  const extra = isLatin1(text)
    ? chunk("tEXt", Buffer.concat([key, Buffer.from([0]), Buffer.from(text, "latin1")]))
    : // keyword \0, compression flag 0, method 0, empty language \0, empty translated keyword \0, UTF-8 text
      chunk("iTXt", Buffer.concat([key, Buffer.from([0, 0, 0, 0, 0]), Buffer.from(text, "utf8")]));
  return Buffer.concat([png.subarray(0, ihdrEnd), extra, png.subarray(ihdrEnd)]);
}

/** The tEXt and uncompressed iTXt chunks of a PNG, keyword -> text (CRCs checked). */
export function readPngText(png: Uint8Array): Record<string, string> {
  const buf = Buffer.from(png.buffer, png.byteOffset, png.byteLength);
  if (buf.length < 8 || !buf.subarray(0, 8).equals(SIGNATURE))
    throw new SdError("ERR_INVALID_OPTION", "not a PNG file");
  const out: Record<string, string> = {};
  let pos = 8;
  while (pos + 12 <= buf.length) {
    const len = buf.readUInt32BE(pos);
    const type = buf.toString("latin1", pos + 4, pos + 8);
    const end = pos + 8 + len;
    if (end + 4 > buf.length) throw new SdError("ERR_INVALID_OPTION", `truncated PNG chunk ${type}`);
    if (crc32(buf.subarray(pos + 4, end)) !== buf.readUInt32BE(end)) {
      throw new SdError("ERR_INVALID_OPTION", `PNG chunk ${type} has a bad CRC`);
    }
    const body = buf.subarray(pos + 8, end);
    const nul = body.indexOf(0);
    if (type === "tEXt" && nul > 0) {
      out[body.toString("latin1", 0, nul)] = body.toString("latin1", nul + 1);
    } else if (type === "iTXt" && nul > 0 && body[nul + 1] === 0) {
      // Skip compression flag/method, then the language tag and translated keyword (both \0-terminated).
      const lang = body.indexOf(0, nul + 3);
      const translated = lang < 0 ? -1 : body.indexOf(0, lang + 1);
      if (translated >= 0) out[body.toString("latin1", 0, nul)] = body.toString("utf8", translated + 1);
    }
    if (type === "IEND") break;
    pos = end + 4;
  }
  return out;
}
