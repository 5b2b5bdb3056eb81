// Quantized weights through the public API and CLI: loadModel weightType /
// weightTypes (validation, reported dtypes); convertModel() to GGUF that
// loadModel reads back (SD 1.x, SD 2.x and SDXL, the source's tokenizer carried
// along), cancelled by an AbortSignal without leaving a file; `sd-native convert`.
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ConvertOptions, convertModel } from "../lib/convert.js";
import { loadModel } from "../lib/index.js";
import { FIXTURES } from "./helpers/reference.js";
import { TINY_SD1_DIFFUSERS } from "./helpers/tiny-sd1.js";
import { ensureDist, REPO, run, TINY_SD1 } from "./package-helpers.js";

const tmp = mkdtempSync(join(tmpdir(), "sd-native-quant-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe("weightType", () => {
  it("quantizes the U-Net and text encoder at load, leaves the VAE", async () => {
    const model = await loadModel(TINY_SD1, { weightType: "q8_0" });
    expect(model.info.components.unet?.dtype).toBe("q8_0");
    // te1's dominant dtype stays that of its token embedding table (not a matmul weight).
    expect(model.info.components.vae?.dtype).not.toBe("q8_0");
    await model.dispose();
  });

  it("per-component override", async () => {
    const model = await loadModel(TINY_SD1, { weightType: "q4_0", weightTypes: { te: "", vae: "q8_0" } });
    expect(model.info.components.unet?.dtype).toBe("q4_0");
    expect(model.info.components.te1?.dtype).not.toMatch(/^q/);
    expect(model.info.components.vae?.dtype).toBe("q8_0");
    await model.dispose();
  });

  it("rejects unknown types and components", async () => {
    // @ts-expect-error not a weight type
    await expect(loadModel(TINY_SD1, { weightType: "q9_0" })).rejects.toMatchObject({ code: "ERR_INVALID_OPTION" });
    // @ts-expect-error not a component
    await expect(loadModel(TINY_SD1, { weightTypes: { decoder: "f16" } })).rejects.toMatchObject({
      code: "ERR_INVALID_OPTION",
    });
  });
});

describe("convertModel", () => {
  it("writes a q8_0 GGUF that loads as the same model", async () => {
    const out = join(tmp, "tiny.q8_0.gguf");
    const seen: number[] = [];
    await convertModel(TINY_SD1, out, { type: "q8_0", onProgress: (done) => seen.push(done) });
    expect(readFileSync(out).subarray(0, 4).toString()).toBe("GGUF");
    expect(seen.length).toBeGreaterThan(100);
    expect(seen).toEqual([...seen].sort((a, b) => a - b));
    const model = await loadModel(out);
    expect(model.info.format).toBe("gguf");
    expect(model.info.family).toBe("sd1");
    // Conv kernels stay f16 in GGUF (blocks run along the innermost dim), so count parameters instead.
    const source = await loadModel(TINY_SD1);
    expect(model.info.parameterCount).toBe(source.info.parameterCount);
    await Promise.all([model.dispose(), source.dispose()]);
  });

  it("carries a diffusers folder's tokenizer into the GGUF, which then needs no other vocabulary", async () => {
    const out = join(tmp, "tiny-with-vocab.f16.gguf");
    await convertModel(TINY_SD1_DIFFUSERS, out, { type: "f16" });
    // No other source can answer: no option, no SD_NATIVE_TOKENIZER, an empty cache, an unreachable download.
    const saved = { ...process.env };
    delete process.env.SD_NATIVE_TOKENIZER;
    process.env.SD_NATIVE_CACHE_DIR = join(tmp, "empty-cache");
    process.env.SD_NATIVE_TOKENIZER_URL = "http://127.0.0.1:9/";
    try {
      const params = { prompt: "a (red:1.2) lighthouse, oil painting", width: 64, height: 64, steps: 2, seed: 5 };
      const gguf = await loadModel(out, { config: TINY_SD1_DIFFUSERS, threads: 1 });
      const folder = await loadModel(TINY_SD1_DIFFUSERS, { threads: 1 });
      const [a, b] = [await gguf.generate(params), await folder.generate(params)];
      // f16 holds the fixture's fp16-valued weights exactly and the prompt tokenizes alike: the same image.
      expect(Buffer.from(a.images[0]?.data ?? []).equals(Buffer.from(b.images[0]?.data ?? []))).toBe(true);
      // The control: the single file carries no vocabulary, so under the same settings it has none.
      const bare = await loadModel(TINY_SD1, { config: TINY_SD1_DIFFUSERS, threads: 1 });
      await expect(bare.generate(params)).rejects.toMatchObject({ code: "ERR_TOKENIZER_NOT_FOUND" });
      await Promise.all([gguf.dispose(), folder.dispose(), bare.dispose()]);
    } finally {
      process.env = saved;
    }
  });

  // SD 2.x: the folder has no last OpenCLIP layer; the GGUF gets a zero (identity) one that the loader sets aside again.
  it.each([
    ["SDXL", "tiny-sdxl", "sdxl"],
    ["SD 2.x", "tiny-sd2", "sd2"],
  ])("converts %s: the GGUF generates what the diffusers folder does", async (_name, fixture, family) => {
    const folderPath = join(FIXTURES, fixture, "diffusers");
    const out = join(tmp, `${fixture}.f16.gguf`);
    await convertModel(folderPath, out, { type: "f16" });
    const gguf = await loadModel(out, { config: folderPath, threads: 1 });
    const folder = await loadModel(folderPath, { threads: 1 });
    expect(gguf.info.family).toBe(family);
    const params = { prompt: "a lighthouse", width: 64, height: 64, steps: 2, seed: 9 };
    const [a, b] = [await gguf.generate(params), await folder.generate(params)];
    expect(Buffer.from(a.images[0]?.data ?? []).equals(Buffer.from(b.images[0]?.data ?? []))).toBe(true);
    await Promise.all([gguf.dispose(), folder.dispose()]);
  });

  it("an abort stops the conversion with AbortError and leaves no file; an earlier file stays", async () => {
    // Aborted in the same tick as the start: the worker checks after its first tensor, so this never races.
    const abortedRun = (out: string) => {
      const ac = new AbortController();
      const run = convertModel(TINY_SD1, out, { type: "q8_0", signal: ac.signal });
      ac.abort();
      return run.catch((e) => e);
    };
    const out = join(tmp, "aborted.gguf");
    expect(await abortedRun(out)).toMatchObject({ name: "AbortError", code: "ABORT_ERR" });
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(tmp).filter((f) => f.endsWith(".partial"))).toEqual([]);

    writeFileSync(out, "an earlier file");
    expect(await abortedRun(out)).toMatchObject({ code: "ABORT_ERR" });
    expect(readFileSync(out, "utf8")).toBe("an earlier file");
    await expect(convertModel(TINY_SD1, out, { signal: AbortSignal.abort() })).rejects.toMatchObject({
      code: "ABORT_ERR",
    });
    // @ts-expect-error not a signal
    await expect(convertModel(TINY_SD1, out, { signal: "stop" })).rejects.toMatchObject({ code: "ERR_INVALID_OPTION" });
  });

  it("refuses bad arguments with typed errors", async () => {
    // @ts-expect-error not a weight type
    await expect(convertModel(TINY_SD1, join(tmp, "x.gguf"), { type: "q9" })).rejects.toMatchObject({
      code: "ERR_INVALID_OPTION",
    });
    await expect(convertModel(join(tmp, "missing.safetensors"), join(tmp, "y.gguf"))).rejects.toMatchObject({
      code: "ERR_MODEL_NOT_FOUND",
    });
    const typo = { tpye: "q4_0" } as unknown as ConvertOptions;
    await expect(convertModel(TINY_SD1, join(tmp, "x.gguf"), typo)).rejects.toMatchObject({
      code: "ERR_INVALID_OPTION",
    });
    const none = null as unknown as ConvertOptions;
    await expect(convertModel(TINY_SD1, join(tmp, "x.gguf"), none)).rejects.toMatchObject({
      code: "ERR_INVALID_OPTION",
    });
  });

  it("refuses to write over its own source", async () => {
    const src = join(tmp, "self.safetensors");
    copyFileSync(TINY_SD1, src);
    const before = readFileSync(src);
    await expect(convertModel(src, src, { type: "q8_0" })).rejects.toMatchObject({ code: "ERR_INVALID_OPTION" });
    expect(readFileSync(src).equals(before)).toBe(true);
  });
});

describe("sd-native convert", () => {
  beforeAll(() => ensureDist(), 120_000);

  it("writes the GGUF and reports it; the type in any case", () => {
    const out = join(tmp, "cli.q4_0.gguf");
    const r = run(
      process.execPath,
      [join(REPO, "dist", "cli.js"), "convert", TINY_SD1, "-o", out, "--type", "Q4_0"],
      REPO,
    );
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/wrote .*cli\.q4_0\.gguf \(q4_0\)/);
    expect(r.stderr).not.toContain("warning");
    expect(readFileSync(out).subarray(0, 4).toString()).toBe("GGUF");
  });

  it("refuses an unknown type in one line", () => {
    const r = run(
      process.execPath,
      [join(REPO, "dist", "cli.js"), "convert", TINY_SD1, "-o", join(tmp, "z.gguf"), "-t", "q9"],
      REPO,
    );
    expect(r.status).toBe(1);
    expect(r.stderr.trim()).toMatch(/^sd-native: ERR_INVALID_OPTION: /);
  });
});
