// Reads the reference tensors of ../shared/fixtures (safetensors) for tests, and compares images.
import { readFileSync } from "node:fs";
import { join } from "node:path";

export const SHARED = join(__dirname, "..", "..", "..", "shared");
export const FIXTURES = join(SHARED, "fixtures");

export interface RefTensor {
  dtype: string;
  shape: number[];
  bytes: Buffer;
}

/** The reference pipeline's call (metadata "params" in diffusers' names) as generate() parameters. */
export interface ReferenceCall {
  prompt: string;
  negativePrompt: string;
  width: number;
  height: number;
  steps: number;
  cfgScale: number;
  seed: number;
}

export class ReferenceFile {
  readonly metadata: Record<string, string>;
  readonly #tensors = new Map<string, RefTensor>();

  constructor(path: string) {
    const buf = readFileSync(path);
    const headerLength = Number(buf.readBigUInt64LE(0));
    const header = JSON.parse(buf.subarray(8, 8 + headerLength).toString("utf8")) as Record<string, unknown>;
    this.metadata = (header.__metadata__ ?? {}) as Record<string, string>;
    for (const [name, entry] of Object.entries(header)) {
      if (name === "__metadata__") continue;
      const e = entry as { dtype: string; shape: number[]; data_offsets: [number, number] };
      const start = 8 + headerLength;
      this.#tensors.set(name, {
        dtype: e.dtype,
        shape: e.shape,
        bytes: buf.subarray(start + e.data_offsets[0], start + e.data_offsets[1]),
      });
    }
  }

  has(name: string): boolean {
    return this.#tensors.has(name);
  }

  u8(name: string): Uint8Array {
    const t = this.tensor(name);
    return new Uint8Array(t.bytes.buffer, t.bytes.byteOffset, t.bytes.byteLength);
  }

  tensor(name: string): RefTensor {
    const t = this.#tensors.get(name);
    if (!t) throw new Error(`reference tensor ${name} missing`);
    return t;
  }

  meta<T>(key: string): T {
    return JSON.parse(this.metadata[key] ?? "null") as T;
  }

  generateParams(): ReferenceCall {
    const p = this.meta<{
      prompt: string;
      negative_prompt: string;
      width: number;
      height: number;
      steps: number;
      guidance_scale: number;
      seed: number;
    }>("params");
    return {
      prompt: p.prompt,
      negativePrompt: p.negative_prompt,
      width: p.width,
      height: p.height,
      steps: p.steps,
      cfgScale: p.guidance_scale,
      seed: p.seed,
    };
  }
}

/** Mean absolute difference of two 8-bit images (0..255 scale). */
export function meanAbsDiff(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) throw new Error(`size mismatch ${a.length} vs ${b.length}`);
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs((a[i] ?? 0) - (b[i] ?? 0));
  return sum / a.length;
}

/** The first image of a result, for byte comparisons (a view, not a copy). */
export function imageBytes(r: { images: { data: Uint8Array }[] }): Buffer {
  const data = r.images[0]?.data ?? new Uint8Array();
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}
