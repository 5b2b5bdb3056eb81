import { existsSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { cacheDir, resolveTokenizer, resolveTokenizerPath } from "../lib/tokenizer/index.js";

const CLIP = join(import.meta.dirname, "..", "..", "shared", "clip");
const GZ = "bpe_simple_vocab_16e6.txt.gz";
const gzBytes = readFileSync(join(CLIP, GZ));

type Mode = "ok" | "corrupt" | "drop" | "404";

/** Serves ../shared/clip on 127.0.0.1 (random port), misbehaving as `mode` says; counts requests. */
async function startServer(mode: Mode): Promise<{ server: Server; url: string; hits: () => number }> {
  let hits = 0;
  const server = createServer((req, res) => {
    hits++;
    const name = (req.url ?? "/").slice(1);
    if (mode === "404" || !existsSync(join(CLIP, name))) {
      res.writeHead(404).end("not found");
      return;
    }
    const body = readFileSync(join(CLIP, name));
    if (mode === "corrupt") body[100] = (body[100] ?? 0) ^ 0xff;
    res.writeHead(200, { "content-length": body.length });
    if (mode === "drop") {
      res.write(body.subarray(0, body.length >> 1), () => res.destroy());
      return;
    }
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return { server, url: `http://127.0.0.1:${port}/`, hits: () => hits };
}

async function stop(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

describe("vocabulary resolution", () => {
  let dir: string;
  let env: NodeJS.ProcessEnv;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "sd-cache-"));
    env = { SD_NATIVE_CACHE_DIR: join(dir, "cache") };
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("downloads into the cache, verifies it, then works without the network", async () => {
    const { server, url, hits } = await startServer("ok");
    try {
      const first = await resolveTokenizerPath({ env: { ...env, SD_NATIVE_TOKENIZER_URL: url } });
      expect(first).toEqual({ path: join(dir, "cache", GZ), source: "download" });
      expect(readFileSync(first.path).equals(gzBytes)).toBe(true);
      expect(hits()).toBe(1);
    } finally {
      await stop(server);
    }
    // Server gone: the cached copy is used and nothing is fetched.
    const second = await resolveTokenizerPath({ env, downloadUrl: url });
    expect(second.source).toBe("cache");
    const tok = await resolveTokenizer({ env, downloadUrl: url });
    expect(tok.encode("a photo of a cat")).toEqual([49406, 320, 1125, 539, 320, 2368, 49407]);
    expect(await readdir(join(dir, "cache"))).toEqual([GZ]);
  });

  it("accepts the full file URL as the download source", async () => {
    const { server, url } = await startServer("ok");
    try {
      const got = await resolveTokenizerPath({ env, downloadUrl: `${url}${GZ}` });
      expect(got.source).toBe("download");
    } finally {
      await stop(server);
    }
  });

  for (const mode of ["corrupt", "drop", "404"] as const) {
    it(`rejects a ${mode} download with ERR_TOKENIZER_NOT_FOUND and caches nothing`, async () => {
      const { server, url, hits } = await startServer(mode);
      try {
        const err = await resolveTokenizerPath({ env, downloadUrl: url }).catch((e: unknown) => e);
        expect(err).toMatchObject({ code: "ERR_TOKENIZER_NOT_FOUND" });
        const message = (err as Error).message;
        expect(message).toContain("`tokenizer` load option");
        expect(message).toContain("SD_NATIVE_TOKENIZER");
        expect(message).toContain(join(dir, "cache", GZ));
        if (mode === "corrupt") expect(message).toContain("sha256");
        if (mode === "404") expect(message).toContain("404");
        expect(hits()).toBe(1);
      } finally {
        await stop(server);
      }
      const left = existsSync(join(dir, "cache")) ? await readdir(join(dir, "cache")) : [];
      expect(left).toEqual([]);
    });
  }

  it("fails with the three fixes when offline", async () => {
    const { server, url } = await startServer("ok");
    await stop(server); // nothing listens on that port any more
    await expect(resolveTokenizerPath({ env, downloadUrl: url })).rejects.toMatchObject({
      code: "ERR_TOKENIZER_NOT_FOUND",
    });
  });

  it("prefers the model's tokenizer/ folder, then the option, then SD_NATIVE_TOKENIZER", async () => {
    const model = join(dir, "model");
    await mkdir(join(model, "tokenizer"), { recursive: true });
    const viaEnv = { ...env, SD_NATIVE_TOKENIZER: join(CLIP, GZ) };
    expect(await resolveTokenizerPath({ env: viaEnv, modelPath: model, tokenizer: CLIP })).toEqual({
      path: join(model, "tokenizer"),
      source: "model",
    });
    expect(await resolveTokenizerPath({ env: viaEnv, modelPath: join(dir, "x.safetensors"), tokenizer: CLIP })).toEqual(
      { path: CLIP, source: "option" },
    );
    expect(await resolveTokenizerPath({ env: viaEnv })).toEqual({ path: join(CLIP, GZ), source: "env" });
  });

  it("names the setting that pointed at a missing vocabulary", async () => {
    await expect(resolveTokenizer({ env: { ...env, SD_NATIVE_TOKENIZER: join(dir, "none.txt.gz") } })).rejects.toThrow(
      /not found.*SD_NATIVE_TOKENIZER/,
    );
    await expect(resolveTokenizer({ env, tokenizer: join(dir, "none") })).rejects.toMatchObject({
      code: "ERR_TOKENIZER_NOT_FOUND",
      message: expect.stringContaining("`tokenizer` load option"),
    });
  });

  it("re-downloads a corrupted cache file", async () => {
    const { server, url } = await startServer("ok");
    try {
      await mkdir(join(dir, "cache"), { recursive: true });
      await writeFile(join(dir, "cache", GZ), "garbage");
      expect((await resolveTokenizerPath({ env, downloadUrl: url })).source).toBe("download");
      expect(readFileSync(join(dir, "cache", GZ)).equals(gzBytes)).toBe(true);
    } finally {
      await stop(server);
    }
  });
});

describe("cacheDir", () => {
  it("follows platform conventions and SD_NATIVE_CACHE_DIR", () => {
    expect(cacheDir({ SD_NATIVE_CACHE_DIR: "/x" }, "linux", "/home/u")).toBe("/x");
    expect(cacheDir({}, "linux", "/home/u")).toBe(join("/home/u", ".cache", "sd-native"));
    expect(cacheDir({ XDG_CACHE_HOME: "/xdg" }, "linux", "/home/u")).toBe(join("/xdg", "sd-native"));
    expect(cacheDir({}, "darwin", "/Users/u")).toBe(join("/Users/u", "Library", "Caches", "sd-native"));
    expect(cacheDir({ LOCALAPPDATA: "C:/AppData/Local" }, "win32", "C:/Users/u")).toBe(
      join("C:/AppData/Local", "sd-native", "Cache"),
    );
  });
});
