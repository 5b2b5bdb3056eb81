// The CLI end to end, run from dist/ as users run it.
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { outputPaths } from "../lib/cli-generate.js";
import { readPngText } from "../lib/index.js";
import { CLI, cli, expectOneLineError } from "./helpers/cli.js";
import { CLIP } from "./helpers/tiny-sd1.js";
import { ensureDist, REPO, TINY_SD1 } from "./package-helpers.js";

const tmp = mkdtempSync(join(tmpdir(), "sd-native-cli-"));

beforeAll(() => {
  ensureDist();
}, 120_000);

describe("sd-native CLI", () => {
  it("--version prints the package version", () => {
    const r = cli("--version");
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toBe(JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")).version);
  });

  it("--help lists the commands, generate --help every option", () => {
    const top = cli("--help");
    expect(top.status).toBe(0);
    expect(top.stdout).toMatch(/info \[options\] <model>/);
    expect(top.stdout).toMatch(/generate \[options\]/);
    const gen = cli("generate", "--help");
    expect(gen.status).toBe(0);
    for (const flag of [
      "-m, --model",
      "-p, --prompt",
      "-n, --negative-prompt",
      "-W, --width",
      "-H, --height",
      "--steps",
      "--cfg",
      "--sampler",
      "--scheduler",
      "--seed",
      "--rng",
      "--clip-skip",
      "--batch",
      "--init-img",
      "--strength",
      "--mask",
      "--threads",
      "--weight-type",
      "-o, --output",
      "--json",
    ]) {
      expect(gen.stdout, flag).toContain(flag);
    }
    expect(gen.stdout).toContain("dpm++2m_sde");
  });

  it("info prints the model family", () => {
    const r = cli("info", TINY_SD1);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/family:\s+sd1/);
  });

  it("a bad option is one error line with its code and exit status 1, before loading the model", () => {
    const r = cli("generate", "-m", join(tmp, "does-not-exist.safetensors"), "-p", "x", "-W", "500");
    expect(r.status).toBe(1);
    expectOneLineError(r.stderr, "ERR_INVALID_OPTION");
    expect(r.stderr).toContain("--width: must be a multiple of 8");
    const s = cli("generate", "-m", TINY_SD1, "-p", "x", "--sampler", "euler_ancestral");
    expect(s.status).toBe(1);
    expectOneLineError(s.stderr, "ERR_INVALID_OPTION");
    expect(s.stderr).toContain('"dpm++2m"');
  });

  it("an empty or non-decimal number and an unwritable -o fail before loading the model", () => {
    const missing = join(tmp, "does-not-exist.safetensors"); // loading it would be ERR_MODEL_NOT_FOUND
    for (const seed of ["", " ", "0x10"]) {
      const r = cli("generate", "-m", missing, "-p", "x", "--seed", seed);
      expect(r.status).toBe(1);
      expectOneLineError(r.stderr, "ERR_INVALID_OPTION");
      expect(r.stderr).toContain("--seed: must be an integer");
    }
    const noDir = cli("generate", "-m", missing, "-p", "x", "-o", join(tmp, "no-such-folder", "x.png"));
    expectOneLineError(noDir.stderr, "ERR_IO");
    expect(noDir.stderr).toContain("does not exist");
    const folder = cli("generate", "-m", missing, "-p", "x", "-o", tmp);
    expectOneLineError(folder.stderr, "ERR_INVALID_OPTION"); // no extension
    const bmp = cli("generate", "-m", missing, "-p", "x", "-o", join(tmp, "x.bmp"));
    expectOneLineError(bmp.stderr, "ERR_INVALID_OPTION");
    expect(bmp.stderr).toContain('".bmp"');
  });

  it("a missing model is ERR_MODEL_NOT_FOUND; --verbose adds the stack", () => {
    const r = cli("generate", "-m", join(tmp, "nope.safetensors"), "-p", "x");
    expect(r.status).toBe(1);
    expectOneLineError(r.stderr, "ERR_MODEL_NOT_FOUND");
    const v = cli("generate", "-m", join(tmp, "nope.safetensors"), "-p", "x", "--verbose");
    expect(v.status).toBe(1);
    expect(v.stderr.split("\n").length).toBeGreaterThan(2);
    expect(v.stderr).toMatch(/\n\s+at /);
  });

  it("names batch outputs NAME-i.ext", () => {
    expect(outputPaths("out.png", 1)).toEqual(["out.png"]);
    expect(outputPaths("dir/out.png", 2)).toEqual(["dir/out-0.png", "dir/out-1.png"]);
  });
});

describe("sd-native generate end to end (tiny-sd1)", () => {
  const base = [
    "generate",
    "-m",
    TINY_SD1,
    "--tokenizer",
    CLIP,
    "--threads",
    "1",
    "-p",
    "a red cube",
    "-W",
    "64",
    "-H",
    "64",
  ];

  it("writes the PNG with its parameters and prints --json metadata; plain progress lines off a TTY", () => {
    const out = join(tmp, "gen.png");
    const r = cli(...base, "--steps", "3", "--seed", "7", "-o", out, "--json");
    expect(r.status, r.stderr).toBe(0);
    const meta = JSON.parse(r.stdout);
    expect(meta).toMatchObject({ images: [out], seed: 7, width: 64, height: 64 });
    expect(meta.timings.perStepMs).toHaveLength(3);
    expect(readPngText(readFileSync(out)).parameters).toContain("Steps: 3, Sampler: Euler a, CFG scale: 7, Seed: 7");
    expect(r.stderr).toMatch(/^denoise 3\/3 /m);
  });

  it("Ctrl-C (SIGINT) cancels through the abort path and exits 130", async () => {
    const out = join(tmp, "cancelled.png");
    const child = spawn(process.execPath, [CLI, ...base, "-W", "256", "-H", "256", "--steps", "200", "-o", out], {
      cwd: REPO,
    });
    let stderr = "";
    let sent = false;
    const status = await new Promise<number | null>((resolve) => {
      child.stderr.on("data", (d: Buffer) => {
        stderr += d.toString();
        if (!sent && /denoise 1\//.test(stderr)) {
          sent = true; // one Ctrl-C: a second one would quit without waiting for the abort
          child.kill("SIGINT");
        }
      });
      child.on("exit", (code) => resolve(code));
    });
    expect(status, stderr).toBe(130);
    expect(stderr).toContain("sd-native: cancelled");
    expect(existsSync(out)).toBe(false);
  });
});
