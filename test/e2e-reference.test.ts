// Same seed, same image: generate() through the public API (tokenizer, prompt
// chunks, native pipeline, PyTorch-compatible CPU generator) reproduces the
// reference pipelines' images for every deterministic sampler with a
// reference loop. The reference drew its initial latents with
// torch.randn(generator=manual_seed(seed)); stochastic samplers (euler_a, lcm)
// used pre-drawn noise there, so they are checked by the engine's replay tests.
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadModel, type Model } from "../lib/index.js";
import { FIXTURES, meanAbsDiff, ReferenceFile, SHARED } from "./helpers/reference.js";

const cases: Array<[model: string, ref: string, sampler: string, scheduler: string]> = [
  ["tiny-sd1/diffusers", "tiny-sd1/ref/sample_euler.safetensors", "euler", "discrete"],
  ["tiny-sd1/tiny-sd1.safetensors", "tiny-sd1/ref/sample_heun.safetensors", "heun", "discrete"],
  ["tiny-sd1/diffusers", "tiny-sd1/ref/sample_dpmpp_2m.safetensors", "dpm++2m", "discrete"],
  ["tiny-sd1/diffusers", "tiny-sd1/ref/sample_dpmpp_2m_karras.safetensors", "dpm++2m", "karras"],
  ["tiny-sd1/diffusers", "tiny-sd1/ref/sample_lms.safetensors", "lms", "discrete"],
  ["tiny-sd1/diffusers", "tiny-sd1/ref/sample_ddim.safetensors", "ddim", "discrete"],
  ["tiny-sd1/diffusers", "tiny-sd1/ref/sample_pndm.safetensors", "pndm", "discrete"],
  ["tiny-sd1/diffusers", "tiny-sd1/ref/sample_unipc.safetensors", "unipc", "discrete"],
  ["tiny-sd2/diffusers", "tiny-sd2/ref/sample_euler.safetensors", "euler", "discrete"],
  ["tiny-sd2/diffusers", "tiny-sd2/ref/sample_ddim.safetensors", "ddim", "discrete"],
  ["tiny-sd2/diffusers", "tiny-sd2/ref/sample_dpmpp_2m_karras.safetensors", "dpm++2m", "karras"],
  ["tiny-sdxl/diffusers", "tiny-sdxl/ref/sample_euler.safetensors", "euler", "discrete"],
  ["tiny-sdxl/tiny-sdxl.safetensors", "tiny-sdxl/ref/sample_dpmpp_2m_karras.safetensors", "dpm++2m", "karras"],
];

const models = new Map<string, Promise<Model>>();
function model(path: string): Promise<Model> {
  let m = models.get(path);
  if (!m) {
    const full = join(FIXTURES, path);
    // Single files need their folder's configs for the tiny models' 8 norm groups.
    const config = path.endsWith(".safetensors") ? join(FIXTURES, path.split("/")[0] ?? "", "diffusers") : undefined;
    // Single files carry no CLIP vocabulary: use the shared copy instead of the download.
    m = loadModel(full, config ? { config, tokenizer: join(SHARED, "clip") } : {});
    models.set(path, m);
  }
  return m;
}

describe("generate() reproduces the reference images for the same seed", () => {
  it.each(cases)("%s, %s", async (modelPath, refPath, sampler, scheduler) => {
    const ref = new ReferenceFile(join(FIXTURES, refPath));
    const p = ref.generateParams();
    const m = await model(modelPath);
    const result = await m.generate({
      ...p,
      sampler: sampler as "euler",
      scheduler: scheduler as "discrete",
    });
    expect(result.seed).toBe(p.seed);
    const image = result.images[0];
    expect(image?.width).toBe(p.width);
    expect(meanAbsDiff(image?.data ?? new Uint8Array(), ref.u8("image_u8"))).toBeLessThanOrEqual(1.0);
  });
});
