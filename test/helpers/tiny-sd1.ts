// The tiny-sd1 fixture as most API tests load it: the single-file checkpoint
// with its diffusers config (the file alone carries no config), the CLIP
// vocabulary and one compute thread (behaviour, not speed).
import { join } from "node:path";
import { FIXTURES, SHARED } from "./reference.js";

export const TINY_SD1 = join(FIXTURES, "tiny-sd1", "tiny-sd1.safetensors");
export const TINY_SD1_DIFFUSERS = join(FIXTURES, "tiny-sd1", "diffusers");
export const CLIP = join(SHARED, "clip");
export const TINY_SD1_OPTIONS = { config: TINY_SD1_DIFFUSERS, tokenizer: CLIP, threads: 1 } as const;
