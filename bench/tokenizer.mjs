// Tokenizer speed: a 1,000-word prompt, cold (fresh tokenizer, every word through BPE) and warm (cached).
// Usage: npm run build:ts && node bench/tokenizer.mjs [path-to-vocab]   (default ../shared/clip)
// Prints one JSON line.
import { join } from "node:path";
import { loadTokenizer } from "../dist/index.js";

const vocab = process.argv[2] ?? join(import.meta.dirname, "..", "..", "shared", "clip");
const WORDS = 1000;

// Deterministic pseudo-random lowercase words (3-10 letters), distinct so none hits the cache.
let seed = 42;
const rand = (n) => {
  seed = (seed * 1103515245 + 12345) % 2 ** 31;
  return seed % n;
};
const words = new Set();
while (words.size < WORDS) {
  let w = "";
  const len = 3 + rand(8);
  for (let i = 0; i < len; i++) w += String.fromCharCode(97 + rand(26));
  words.add(w);
}
const randomPrompt = [...words].join(", ");
const typical = "masterpiece, best quality, a photo of a (red:1.2) fox in a snowy forest, highly detailed, 8k";
const typicalPrompt = Array.from({ length: Math.ceil(WORDS / 17) }, () => typical).join(", ");

function time(fn, reps) {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < reps; i++) fn();
  return Number(process.hrtime.bigint() - t0) / 1e6 / reps;
}

const t0 = process.hrtime.bigint();
const tok = await loadTokenizer(vocab);
const loadMs = Number(process.hrtime.bigint() - t0) / 1e6;
const coldMs = time(() => tok.encode(randomPrompt), 1);
const warmMs = time(() => tok.encode(randomPrompt), 20);
const fresh = await loadTokenizer(vocab);
const typicalColdMs = time(() => fresh.encode(typicalPrompt), 1);
const typicalWarmMs = time(() => fresh.encode(typicalPrompt), 20);
const words1k = (s) => s.split(/\s+/).length;
console.log(
  JSON.stringify({
    bench: "tokenizer",
    loadMs: +loadMs.toFixed(1),
    randomWords: words1k(randomPrompt),
    randomColdMsPerWord: +(coldMs / words1k(randomPrompt)).toFixed(4),
    randomWarmMsPerWord: +(warmMs / words1k(randomPrompt)).toFixed(4),
    typicalWords: words1k(typicalPrompt),
    typicalColdMsPerWord: +(typicalColdMs / words1k(typicalPrompt)).toFixed(4),
    typicalWarmMsPerWord: +(typicalWarmMs / words1k(typicalPrompt)).toFixed(4),
  }),
);
