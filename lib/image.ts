// Generated images: RGB pixels plus the recipe that made them; PNG encoding
// through pngjs, JPEG/WebP through the optional `sharp` package.
import { stat, writeFile } from "node:fs/promises";
import { dirname, extname, resolve } from "node:path";
import { PNG } from "pngjs";
import { invalidOption, SdError } from "./errors.js";
import { addPngText } from "./png-text.js";

/** An 8-bit RGB image, row-major, channels interleaved. */
export class Image {
  readonly width: number;
  readonly height: number;
  readonly channels = 3 as const;
  /** RGB bytes, `width * height * 3`. */
  readonly data: Uint8Array;
  /** The generation parameters (web UI format) written into saved PNGs, when known. */
  readonly parameters: string | undefined;

  constructor(width: number, height: number, data: Uint8Array, parameters?: string) {
    if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
      throw invalidOption("image", `width and height must be positive integers, got ${width}x${height}`);
    }
    if (data.length !== width * height * 3) {
      throw invalidOption(
        "image",
        `RGB data of ${width}x${height} needs ${width * height * 3} bytes, got ${data.length}`,
      );
    }
    this.width = width;
    this.height = height;
    this.data = data;
    this.parameters = parameters;
  }

  /** PNG bytes, with the generation parameters in a `parameters` text chunk. */
  async toPNG(): Promise<Buffer> {
    const png = new PNG({
      width: this.width,
      height: this.height,
      colorType: 2,
      inputColorType: 2,
      inputHasAlpha: false,
    });
    png.data = Buffer.from(this.data.buffer, this.data.byteOffset, this.data.byteLength);
    const encoded = PNG.sync.write(png, { colorType: 2, inputColorType: 2, inputHasAlpha: false });
    return this.parameters === undefined ? encoded : addPngText(encoded, "parameters", this.parameters);
  }

  /**
   * Writes the image; the format follows the extension: .png (built in), .jpg/.jpeg/.webp
   * (need the optional dependency `sharp`; these do not carry the parameters).
   */
  async save(path: string): Promise<void> {
    const ext = saveFormat(path);
    if (ext === ".png") {
      await writeIo(path, await this.toPNG());
      return;
    }
    const sharp = await loadSharp(ext);
    const raw = sharp(this.data, { raw: { width: this.width, height: this.height, channels: 3 } });
    const encoded = await (ext === ".webp" ? raw.webp({ quality: 92 }) : raw.jpeg({ quality: 92 })).toBuffer();
    await writeIo(path, encoded);
  }
}

/** The extension `save(path)` encodes by, or ERR_INVALID_OPTION. */
function saveFormat(path: string): ".png" | ".jpg" | ".jpeg" | ".webp" {
  if (typeof path !== "string" || path === "") throw invalidOption("path", "must be a non-empty string");
  const ext = extname(path).toLowerCase();
  if (ext === ".png" || ext === ".jpg" || ext === ".jpeg" || ext === ".webp") return ext;
  throw invalidOption("path", `unsupported extension "${ext}"; use .png, .jpg, .jpeg or .webp`);
}

/**
 * Checks, before any work, that `save(path)` can write there: a known
 * extension, `sharp` for .jpg/.webp, an existing folder, not a folder itself
 * (the CLI checks -o so a long generation is not lost at the end).
 */
export async function checkSavePath(path: string): Promise<void> {
  const ext = saveFormat(path);
  if (ext !== ".png") await loadSharp(ext);
  const folder = dirname(resolve(path));
  const isDir = async (p: string) => (await stat(p).catch(() => undefined))?.isDirectory();
  if (!(await isDir(folder))) throw new SdError("ERR_IO", `cannot write ${path}: the folder ${folder} does not exist`);
  if (await isDir(path)) throw new SdError("ERR_IO", `cannot write ${path}: it is a folder`);
}

async function writeIo(path: string, data: Uint8Array): Promise<void> {
  try {
    await writeFile(path, data);
  } catch (err) {
    throw new SdError("ERR_IO", `cannot write ${path}: ${(err as Error).message}`, { cause: err });
  }
}

interface SharpChain {
  jpeg(o: { quality: number }): SharpChain;
  webp(o: { quality: number }): SharpChain;
  toBuffer(): Promise<Buffer>;
}
type SharpFactory = (data: Uint8Array, o: { raw: { width: number; height: number; channels: 3 } }) => SharpChain;

async function loadSharp(ext: string): Promise<SharpFactory> {
  // A variable specifier keeps bundlers and tsc from requiring the optional package.
  const name = "sharp";
  try {
    const mod = (await import(name)) as { default?: SharpFactory };
    return (mod.default ?? mod) as SharpFactory;
  } catch (err) {
    throw new SdError(
      "ERR_INVALID_OPTION",
      `path: saving ${ext} needs the optional package "sharp" (npm install sharp); or save as .png, which also keeps the parameters`,
      { cause: err },
    );
  }
}
