// The CLI's add-on and decode flags (--lora, --lora-dir, --embedding, --embedding-dir,
// --vae, --taesd, --decoder, --vae-tiling, --precision), run from dist/ as users run them: each flag form
// gives the same image as its equivalent API / prompt form, and bad values are
// one typed error line.
import { copyFileSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { parseLoraFlag, parseVaeTilingFlag } from "../lib/cli-generate.js";
import { cli, expectOneLineError } from "./helpers/cli.js";
import { FIXTURES } from "./helpers/reference.js";
import { CLIP, TINY_SD1_DIFFUSERS } from "./helpers/tiny-sd1.js";
import { ensureDist, TINY_SD1 } from "./package-helpers.js";

const KOHYA = join(FIXTURES, "tiny-sd1-lora", "tiny-sd1-lora.kohya.safetensors");
const TI_A1111 = join(FIXTURES, "tiny-sd1-ti", "tiny-style.a1111.safetensors");
const TAESD = join(FIXTURES, "taesd", "diffusers");
const tmp = mkdtempSync(join(tmpdir(), "sd-native-cli-addons-"));

/** After the model loaded, progress lines may precede the error: it is the last line. */
function expectErrorLast(stderr: string, code: string): void {
  const lines = stderr.trim().split("\n");
  expect(lines.at(-1), stderr).toMatch(new RegExp(`^sd-native: ${code}: `));
  expect(
    lines.filter((l) => l.startsWith("sd-native:")),
    stderr,
  ).toHaveLength(1);
}

beforeAll(() => {
  ensureDist();
}, 120_000);

describe("--lora PATH[:SCALE]", () => {
  it("splits a numeric scale after the last colon, else keeps the whole path", () => {
    expect(parseLoraFlag("a.safetensors")).toEqual({ path: "a.safetensors", scale: 1 });
    expect(parseLoraFlag("a.safetensors:0.7")).toEqual({ path: "a.safetensors", scale: 0.7 });
    expect(parseLoraFlag("dir/a.safetensors:-1.5")).toEqual({ path: "dir/a.safetensors", scale: -1.5 });
    expect(parseLoraFlag("a:b.safetensors:.5")).toEqual({ path: "a:b.safetensors", scale: 0.5 });
    expect(parseLoraFlag("a.safetensors:1e-1")).toEqual({ path: "a.safetensors", scale: 0.1 });
    expect(parseLoraFlag("C:\\loras\\a.safetensors")).toEqual({ path: "C:\\loras\\a.safetensors", scale: 1 });
    expect(parseLoraFlag("C:\\loras\\a.safetensors:2")).toEqual({ path: "C:\\loras\\a.safetensors", scale: 2 });
    expect(parseLoraFlag("a.safetensors:x")).toEqual({ path: "a.safetensors:x", scale: 1 });
  });
});

describe("--vae-tiling auto|on|off|SIZE[:OVERLAP]", () => {
  it("maps to the vaeTiling option; other text is passed on for generate() to reject", () => {
    expect(parseVaeTilingFlag("auto")).toBe("auto");
    expect(parseVaeTilingFlag("on")).toBe(true);
    expect(parseVaeTilingFlag("off")).toBe(false);
    expect(parseVaeTilingFlag("256")).toEqual({ tileSize: 256 });
    expect(parseVaeTilingFlag("256:64")).toEqual({ tileSize: 256, overlap: 64 });
    expect(parseVaeTilingFlag("big")).toBe("big");
  });
});

describe("sd-native generate add-on flags", () => {
  it("--help lists every add-on flag", () => {
    const r = cli("generate", "--help");
    expect(r.status).toBe(0);
    for (const flag of [
      "--lora <path[:scale]>",
      "--lora-dir <dir>",
      "--embedding <path>",
      "--embedding-dir <dir>",
      "--vae <path>",
      "--taesd <path>",
      "--decoder <name>",
      "--vae-tiling <mode>",
      "--precision <mode>",
    ]) {
      expect(r.stdout, flag).toContain(flag);
    }
  });

  it("a bad --decoder fails before loading the model", () => {
    const d = cli("generate", "-m", join(tmp, "does-not-exist.safetensors"), "-p", "x", "--decoder", "tiny");
    expect(d.status).toBe(1);
    expectOneLineError(d.stderr, "ERR_INVALID_OPTION");
    expect(d.stderr).toContain("decoder");
  });

  it("bad --vae-tiling and --precision values fail before loading the model", () => {
    for (const [flag, value] of [
      ["--vae-tiling", "huge"],
      ["--vae-tiling", "60"],
      ["--vae-tiling", "256:128"],
      ["--precision", "turbo"],
    ] as const) {
      const d = cli("generate", "-m", join(tmp, "does-not-exist.safetensors"), "-p", "x", flag, value);
      expect(d.status, `${flag} ${value}`).toBe(1);
      expectOneLineError(d.stderr, "ERR_INVALID_OPTION");
    }
  });
});

describe("sd-native generate add-on flags end to end (tiny-sd1)", () => {
  const base = [
    "generate",
    "-m",
    TINY_SD1,
    "--config",
    TINY_SD1_DIFFUSERS,
    "--tokenizer",
    CLIP,
    "--threads",
    "1",
    "-W",
    "64",
    "-H",
    "64",
    "--steps",
    "2",
    "--seed",
    "11",
    "--sampler",
    "euler",
  ];
  const png = (name: string) => join(tmp, name);
  function generate(out: string, ...args: string[]): Buffer {
    const r = cli(...base, "-o", out, ...args);
    expect(r.status, r.stderr).toBe(0);
    return readFileSync(out);
  }

  it("--lora PATH:SCALE equals the prompt tag through --lora-dir, and changes the image", () => {
    const plain = generate(png("plain.png"), "-p", "a red cube");
    const flag = generate(png("lora-flag.png"), "-p", "a red cube", "--lora", `${KOHYA}:0.7`);
    const tag = generate(
      png("lora-tag.png"),
      "-p",
      "a red cube <lora:tiny-sd1-lora.kohya:0.7>",
      "--lora-dir",
      join(FIXTURES, "tiny-sd1-lora"),
    );
    expect(flag.equals(plain)).toBe(false);
    // The PNG text holds the prompt, which differs: compare the pixels' chunk.
    expect(idat(flag).equals(idat(tag))).toBe(true);
    const twice = generate(
      png("lora-twice.png"),
      "-p",
      "a red cube",
      "--lora",
      `${KOHYA}:0.3`,
      "--lora",
      `${KOHYA}:0.4`,
    );
    expect(idat(twice).equals(idat(plain))).toBe(false);
  }, 120_000);

  it("--embedding PATH equals --embedding-dir with the token in the prompt", () => {
    const dir = mkdtempSync(join(tmp, "emb-"));
    copyFileSync(TI_A1111, join(dir, "tiny-style.safetensors"));
    const explicit = generate(
      png("emb-flag.png"),
      "-p",
      "a house in tiny-style",
      "--embedding",
      join(dir, "tiny-style.safetensors"),
    );
    const fromDir = generate(png("emb-dir.png"), "-p", "a house in tiny-style", "--embedding-dir", dir);
    const without = generate(png("emb-none.png"), "-p", "a house in tiny-style");
    expect(idat(explicit).equals(idat(fromDir))).toBe(true);
    expect(idat(explicit).equals(idat(without))).toBe(false);
  }, 120_000);

  it("--taesd with --decoder taesd decodes with the tiny autoencoder; --decoder taesd alone is an error", () => {
    const vae = generate(png("dec-vae.png"), "-p", "a red cube");
    const tiny = generate(png("dec-taesd.png"), "-p", "a red cube", "--taesd", TAESD, "--decoder", "taesd");
    expect(idat(tiny).equals(idat(vae))).toBe(false);
    const r = cli(...base, "-p", "a red cube", "-o", png("no-taesd.png"), "--decoder", "taesd");
    expect(r.status).toBe(1);
    expectErrorLast(r.stderr, "ERR_INVALID_OPTION");
  }, 120_000);

  it("--vae replaces the checkpoint's VAE (the diffusers vae/ folder of the same model: same image)", () => {
    const own = generate(png("vae-own.png"), "-p", "a red cube");
    const sep = generate(png("vae-sep.png"), "-p", "a red cube", "--vae", join(TINY_SD1_DIFFUSERS, "vae"));
    expect(idat(sep).equals(idat(own))).toBe(true);
    const r = cli(...base, "-p", "x", "-o", png("vae-bad.png"), "--vae", join(tmp, "missing-vae.safetensors"));
    expect(r.status).toBe(1);
    expectErrorLast(r.stderr, "ERR_MODEL_NOT_FOUND");
  }, 120_000);

  it("--vae-tiling reaches the decoder: off equals the default at 64x64, 64-pixel tiles at 128x128 change the pixels", () => {
    const auto = generate(png("tiling-auto.png"), "-p", "a red cube");
    const off = generate(png("tiling-off.png"), "-p", "a red cube", "--vae-tiling", "off");
    expect(idat(off).equals(idat(auto))).toBe(true);
    const big = ["-p", "a red cube", "-W", "128", "-H", "128"];
    const whole = generate(png("tiling-whole.png"), ...big, "--vae-tiling", "off");
    const tiled = generate(png("tiling-64.png"), ...big, "--vae-tiling", "64:16");
    expect(idat(tiled).equals(idat(whole))).toBe(false);
  }, 120_000);

  it("--precision fast reports what ran; where that is the exact path the pixels are the default's", () => {
    const exact = generate(png("prec-default.png"), "-p", "a red cube");
    const r = cli(...base, "-p", "a red cube", "-o", png("prec-fast.png"), "--precision", "fast", "--json");
    expect(r.status, r.stderr).toBe(0);
    const meta = JSON.parse(r.stdout) as { precision: string };
    expect(["default", "fast"]).toContain(meta.precision);
    if (meta.precision === "default") expect(idat(readFileSync(png("prec-fast.png"))).equals(idat(exact))).toBe(true);
  }, 120_000);

  it("a --lora file that is no LoRA is ERR_LORA_FORMAT; a non-numeric suffix stays part of the path", () => {
    const r = cli(...base, "-p", "x", "-o", png("bad-lora.png"), "--lora", TINY_SD1);
    expect(r.status).toBe(1);
    expectErrorLast(r.stderr, "ERR_LORA_FORMAT");
    const s = cli(...base, "-p", "x", "-o", png("inf-lora.png"), "--lora", `${KOHYA}:inf`);
    expect(s.status).toBe(1);
    expectErrorLast(s.stderr, "ERR_MODEL_NOT_FOUND");
  }, 120_000);
});

/** The concatenated IDAT chunks of a PNG (the pixels, without the text chunks). */
function idat(png: Buffer): Buffer {
  const parts: Buffer[] = [];
  for (let i = 8; i < png.length; ) {
    const len = png.readUInt32BE(i);
    if (png.toString("latin1", i + 4, i + 8) === "IDAT") parts.push(png.subarray(i + 8, i + 8 + len));
    i += 12 + len;
  }
  return Buffer.concat(parts);
}
