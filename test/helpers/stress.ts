// Shared pieces of the stress tests (test/stress-*.test.ts): fixture paths,
// a small generation, RSS after a full GC, and a seeded PRNG so random abort
// points are the same on every run.
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { SHARED } from "./reference.js";
import { CLIP } from "./tiny-sd1.js";

export { imageBytes } from "./reference.js";
export { CLIP, TINY_SD1 } from "./tiny-sd1.js";
export { SHARED };
export const TINY_SD2 = `${SHARED}/fixtures/tiny-sd2/diffusers`;
/** One compute thread: behaviour, not speed, and no dependence on how a loaded machine schedules a pool. */
export const LOAD = { tokenizer: CLIP, threads: 1 } as const;
/** A small txt2img call on the tiny models: 64x64, 4 steps (~0.3 s here). */
export const SMALL = {
  prompt: "a red cube",
  negativePrompt: "blurry",
  width: 64,
  height: 64,
  steps: 4,
  seed: 7,
} as const;
/** 2 steps without CFG: every stage runs (7 progress events: encode 0/1, denoise 0..2, decode 0/1) at the lowest cost. */
export const CHEAP = { ...SMALL, steps: 2, cfgScale: 1 } as const;

// --expose-gc without a command-line flag: the flag is set at run time and the
// function taken from a fresh context (the main context was created before it).
let gcFn: (() => void) | undefined;
export function fullGc(): void {
  if (!gcFn) {
    const g = (globalThis as { gc?: () => void }).gc;
    if (g) gcFn = g;
    else {
      setFlagsFromString("--expose-gc");
      gcFn = runInNewContext("gc") as () => void;
    }
  }
  // Twice: the first pass runs finalizers (ObjectWrap / Buffer frees) that the second collects after.
  gcFn();
  gcFn();
}

/** Resident set size in MB after a full GC and a turn of the event loop (native finalizers run). */
export async function settledRssMb(): Promise<number> {
  fullGc();
  await new Promise((r) => setImmediate(r));
  fullGc();
  return process.memoryUsage().rss / (1 << 20);
}

/** mulberry32: a tiny seeded PRNG; returns floats in [0, 1). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** Figures for bench/reliability.mjs: a test prints one `stress-figures {json}` line when SD_STRESS_FIGURES=1. */
export function reportFigures(name: string, figures: Record<string, unknown>): void {
  if (process.env.SD_STRESS_FIGURES === "1") console.log(`stress-figures ${JSON.stringify({ name, ...figures })}`);
}
