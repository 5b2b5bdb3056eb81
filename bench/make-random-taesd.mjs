// Writes a random-weight TAESD with the real layout (madebyollin/taesd for SD 1.x/2.x:
// 64 channels, decoder blocks 3,3,3,1, encoder blocks 1,3,3,3, latent 4) in the
// original file layout: taesd_decoder.safetensors (N.* names; index 0 is the
// parameter-free Clamp) and taesd_encoder.safetensors. Same tensor names and shapes as
// ../shared/fixtures/taesd (diffusers index = original decoder index - 1), so the compute
// equals the real TAESD's; weights N(0,1)/sqrt(fan_in), biases 0.1*N(0,1), stored F16.
//
// Usage: node bench/make-random-taesd.mjs --out DIR [--seed N]
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";

const C = 64; // channels of every TAESD layer
const LATENT = 4;

/** The layer list as (index, kind): "conv" (with bias), "conv_nb" (no bias), "block" (3 convs); others hold no weights. */
function decoderLayers() {
  // 0 Clamp, 1 conv(4->64), 2 ReLU, blocks / Upsample + conv_nb per level, last conv(64->3).
  const layers = [[1, "conv_in"]];
  let i = 3;
  [3, 3, 3, 1].forEach((blocks, level) => {
    for (let b = 0; b < blocks; b++) layers.push([i++, "block"]);
    if (level < 3) {
      i++; // Upsample
      layers.push([i++, "conv_nb"]);
    }
  });
  layers.push([i, "conv_out"]);
  return layers;
}

function encoderLayers() {
  // 0 conv(3->64), then per level: stride-2 conv_nb (not before the first) and its blocks, last conv(64->4).
  const layers = [[0, "conv_rgb"]];
  let i = 1;
  [1, 3, 3, 3].forEach((blocks, level) => {
    if (level > 0) layers.push([i++, "conv_nb"]);
    for (let b = 0; b < blocks; b++) layers.push([i++, "block"]);
  });
  layers.push([i, "conv_latent"]);
  return layers;
}

/** name -> shape of every tensor of a layer list. */
function tensorShapes(layers) {
  const out = [];
  const conv = (name, cout, cin, bias) => {
    out.push([`${name}.weight`, [cout, cin, 3, 3]]);
    if (bias) out.push([`${name}.bias`, [cout]]);
  };
  for (const [i, kind] of layers) {
    if (kind === "block") for (const k of [0, 2, 4]) conv(`${i}.conv.${k}`, C, C, true);
    else if (kind === "conv_nb") conv(`${i}`, C, C, false);
    else if (kind === "conv_in") conv(`${i}`, C, LATENT, true);
    else if (kind === "conv_out") conv(`${i}`, 3, C, true);
    else if (kind === "conv_rgb") conv(`${i}`, C, 3, true);
    else if (kind === "conv_latent") conv(`${i}`, LATENT, C, true);
  }
  return out;
}

// mulberry32 + Box-Muller: deterministic N(0, 1).
function normalSource(seed) {
  let a = seed >>> 0;
  const uniform = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
}

// f32 -> IEEE f16 bits, round to nearest even (values here are far from overflow / subnormals matter little).
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
function toHalf(v) {
  f32[0] = v;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = ((x >>> 23) & 0xff) - 127 + 15;
  let mant = x & 0x7fffff;
  if (exp <= 0) {
    if (exp < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - exp;
    const half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    return sign | (half + (rem > mid || (rem === mid && half & 1) ? 1 : 0));
  }
  if (exp >= 31) return sign | 0x7c00;
  const half = (exp << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  return sign | (half + (rem > 0x1000 || (rem === 0x1000 && half & 1) ? 1 : 0));
}

function safetensorsF16(shapes, normal) {
  const header = {};
  const parts = [];
  let offset = 0;
  for (const [name, shape] of shapes) {
    const n = shape.reduce((p, d) => p * d, 1);
    const fanIn = shape.length === 4 ? shape[1] * shape[2] * shape[3] : 0;
    const data = Buffer.alloc(2 * n);
    for (let i = 0; i < n; i++) data.writeUInt16LE(toHalf(fanIn ? normal() / Math.sqrt(fanIn) : 0.1 * normal()), 2 * i);
    header[name] = { dtype: "F16", shape, data_offsets: [offset, offset + data.length] };
    parts.push(data);
    offset += data.length;
  }
  let json = JSON.stringify(header);
  json += " ".repeat((8 - (json.length % 8)) % 8); // keeps the data 8-byte aligned
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([len, Buffer.from(json), ...parts]);
}

const { values: args } = parseArgs({ options: { out: { type: "string" }, seed: { type: "string", default: "505" } } });
if (!args.out) {
  console.error("usage: node bench/make-random-taesd.mjs --out DIR [--seed N]");
  process.exit(2);
}
mkdirSync(args.out, { recursive: true });
const normal = normalSource(Number(args.seed));
writeFileSync(join(args.out, "taesd_decoder.safetensors"), safetensorsF16(tensorShapes(decoderLayers()), normal));
writeFileSync(join(args.out, "taesd_encoder.safetensors"), safetensorsF16(tensorShapes(encoderLayers()), normal));
console.error(`wrote ${join(args.out, "taesd_decoder.safetensors")} and taesd_encoder.safetensors`);
