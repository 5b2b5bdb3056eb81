// Shared by the full-size benchmarks (bench/generate.mjs, bench/taesd.mjs):
// where the random-weight SD 1.5 checkpoint is cached, loading the built
// library from dist/, and the VAE decoder's analytic multiply-accumulate count.
import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";

export const ROOT = join(import.meta.dirname, "..");
export const SHARED = join(ROOT, "..", "shared");
export const CLIP = join(SHARED, "clip");
/** Generated checkpoints and TAESDs live here between runs ($SD_NATIVE_BENCH_CACHE). */
export const BENCH_CACHE = process.env.SD_NATIVE_BENCH_CACHE ?? join(homedir(), ".cache", "sd-native-bench");
/** The random SD 1.5 checkpoint (f16, about 2 GB) bench/generate.mjs writes once. */
export const SD15_CHECKPOINT = join(BENCH_CACHE, "sd15-f16.safetensors");

/** The public API from dist/ (exits with status 2 when it has not been built). */
export async function importLib() {
  const entry = join(ROOT, "dist", "index.js");
  if (!existsSync(entry)) {
    console.error("bench: dist/ is missing: run `npx tsup` (or npm run build:ts) first");
    process.exit(2);
  }
  return import(entry);
}

/** SD VAE decoder GMAC for a px x px image: ch 128, mult [1,2,4,4], 3 ResBlocks per level, one mid attention. */
export function vaeDecoderGmac(px) {
  const conv = (cin, cout, hw, k = 3) => cin * cout * k * k * hw;
  const res = (cin, cout, hw) =>
    conv(cin, cout, hw) + conv(cout, cout, hw) + (cin !== cout ? conv(cin, cout, hw, 1) : 0);
  let s = px / 8;
  let hw = s * s;
  let macs = conv(4, 4, hw, 1) + conv(4, 512, hw); // post_quant_conv, conv_in
  macs += 2 * res(512, 512, hw) + 4 * hw * 512 * 512 + 2 * hw * hw * 512; // mid: res, attention, res
  let ch = 512;
  for (const out of [512, 512, 256, 128]) {
    for (let i = 0; i < 3; i++) {
      macs += res(ch, out, hw);
      ch = out;
    }
    if (s < px) {
      s *= 2;
      hw = s * s;
      macs += conv(ch, ch, hw); // upsample conv
    }
  }
  macs += conv(128, 3, hw); // conv_out
  return macs / 1e9;
}
