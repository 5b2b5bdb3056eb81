// Builds safetensors files in tests (hostile headers, renamed or synthetic
// tensors): 8-byte little-endian header length, JSON header, then the data.
import { readFileSync } from "node:fs";

export interface StTensor {
  dtype: string;
  shape: number[];
  data: Uint8Array;
}

/** A file with `header` as its JSON text verbatim, followed by `dataBytes` bytes of 0x01. */
export function rawSafetensors(header: string, dataBytes: number): Buffer {
  const h = Buffer.from(header, "utf8");
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(h.length));
  return Buffer.concat([len, h, Buffer.alloc(dataBytes, 1)]);
}

/** The file's tensors in header order (data: views into the file's bytes). */
export function readSafetensors(path: string): Map<string, StTensor> {
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

/** A file of `tensors`, stored back to back in map order. */
export function encodeSafetensors(tensors: ReadonlyMap<string, StTensor>): Buffer {
  const header: Record<string, unknown> = {};
  const parts: Uint8Array[] = [];
  let offset = 0;
  for (const [name, t] of tensors) {
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.data.length] };
    parts.push(t.data);
    offset += t.data.length;
  }
  return Buffer.concat([rawSafetensors(JSON.stringify(header), 0), ...parts]);
}

/** An F32 tensor of `values` with `shape`. */
export function f32(shape: number[], values: readonly number[]): StTensor {
  return { dtype: "F32", shape, data: new Uint8Array(new Float32Array(values).buffer) };
}
