// Resource limits (issue 9): absurd requests are refused up front with a typed
// error, never by the kernel's OOM killer; an allocation failure inside the
// engine is ERR_OUT_OF_MEMORY and the process lives on; files that cannot be
// read (a FIFO, a device, a folder, no permission) get a typed error at once.
import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadModel, type Model } from "../lib/index.js";
import { CHEAP, LOAD, reportFigures, TINY_SD1 } from "./helpers/stress.js";

const CHILD = join(__dirname, "helpers", "stress-child.mjs");
const NOBODY = 65534; // uid and gid of "nobody" / "nogroup"

// Whether "nobody" can run the child at all: root, setpriv, and a checkout that
// user may read (a clone under a private home folder is not).
function nobodyCanRunChild(): boolean {
  if (process.getuid?.() !== 0) return false;
  const setpriv = ["--reuid", `${NOBODY}`, "--regid", `${NOBODY}`, "--clear-groups"];
  const r = spawnSync("setpriv", [...setpriv, process.execPath, CHILD, "load", "/nonexistent"], { encoding: "utf8" });
  return r.status === 0 && r.stdout.includes("ERR_MODEL_NOT_FOUND");
}

function child(args: string[], uid?: number): Record<string, unknown> {
  const node = [process.execPath, CHILD, ...args];
  const cmd = uid === undefined ? node : ["setpriv", `--reuid=${uid}`, `--regid=${uid}`, "--clear-groups", ...node];
  const out = execFileSync(cmd[0] as string, cmd.slice(1), { encoding: "utf8", timeout: 60_000 });
  return JSON.parse(out.trim().split("\n").pop() as string);
}

describe("stress: resource limits", () => {
  let model: Model;
  beforeAll(async () => {
    model = await loadModel(TINY_SD1, LOAD);
  });
  afterAll(async () => {
    await model.dispose();
  });

  it("absurd sizes, batches and step counts are ERR_INVALID_OPTION before any native work", async () => {
    const absurd = [
      { width: 16384, height: 16384 },
      { width: 16384 },
      { batchSize: 1000 },
      { steps: 1_000_000 },
      { sigmas: Array.from({ length: 100_000 }, (_, i) => 100_000 - i - 1) },
    ];
    for (const extra of absurd) {
      const t0 = performance.now();
      await expect(model.generate({ ...CHEAP, ...extra })).rejects.toMatchObject({ code: "ERR_INVALID_OPTION" });
      expect(performance.now() - t0).toBeLessThan(1000);
    }
  });

  it("a call whose estimated working memory exceeds what is available is ERR_OUT_OF_MEMORY up front", async () => {
    const saved = process.env.SD_NATIVE_MEMORY_LIMIT;
    process.env.SD_NATIVE_MEMORY_LIMIT = String(256 << 20);
    try {
      // 4096x4096 x 16 with CFG: 32 U-Net rows of 512x512 latents, about 20 GB even for the tiny model.
      const t0 = performance.now();
      await expect(model.generate({ ...CHEAP, width: 4096, height: 4096, batchSize: 16 })).rejects.toMatchObject({
        code: "ERR_OUT_OF_MEMORY",
        message: expect.stringMatching(/^4096x4096 with batchSize 16 needs about \d+\.\d GB .* only 0\.3 GB/),
      });
      const refusedMs = performance.now() - t0;
      // Within the budget the same model still generates.
      expect((await model.generate(CHEAP)).images).toHaveLength(1);
      reportFigures("memory-estimate", { refusedMs });
    } finally {
      if (saved === undefined) delete process.env.SD_NATIVE_MEMORY_LIMIT;
      else process.env.SD_NATIVE_MEMORY_LIMIT = saved;
    }
  });

  it.runIf(process.platform === "linux" && spawnSync("prlimit", ["--version"]).status === 0)(
    "an allocation failure inside the engine is ERR_OUT_OF_MEMORY and the process lives on",
    () => {
      // A child without the TypeScript estimate, its address space capped 512 MB above its use.
      const r = child(["oom", TINY_SD1]);
      expect(r).toMatchObject({
        warm: { ok: true, width: 64 },
        big: { code: "ERR_OUT_OF_MEMORY" },
        small: { ok: true, width: 64 },
      });
    },
  );

  describe("files that cannot be read", () => {
    let dir: string;
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), "sd-stress-"));
      chmodSync(dir, 0o755);
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it("a FIFO is ERR_IO at once (it used to block the loader's thread forever)", async () => {
      const fifo = join(dir, "fifo.safetensors");
      execFileSync("mkfifo", [fifo]);
      await expect(loadModel(fifo)).rejects.toMatchObject({
        code: "ERR_IO",
        message: expect.stringMatching(/not a regular file/),
      });
      const ckpt = join(dir, "fifo.ckpt");
      execFileSync("mkfifo", [ckpt]);
      await expect(loadModel(ckpt)).rejects.toMatchObject({ code: "ERR_IO" });
    });

    it.runIf(process.platform === "linux")("a device is ERR_IO", async () => {
      await expect(loadModel("/dev/zero")).rejects.toMatchObject({ code: "ERR_IO" });
    });

    it("a folder where a checkpoint file is expected is a typed error", async () => {
      const folder = join(dir, "folder.safetensors");
      mkdirSync(folder);
      await expect(loadModel(folder)).rejects.toMatchObject({ code: "ERR_MODEL_UNSUPPORTED" });
    });

    // Root reads any file whatever its mode, so the permission case runs as "nobody".
    it.runIf(nobodyCanRunChild())(
      "a file without read permission is ERR_IO (EACCES), checked as an unprivileged user",
      () => {
        const file = join(dir, "locked.safetensors");
        copyFileSync(TINY_SD1, file);
        chmodSync(file, 0o644);
        expect(child(["load", file], NOBODY)).toEqual({ ok: true }); // readable: the user can load it
        chmodSync(file, 0o000);
        expect(child(["load", file], NOBODY)).toMatchObject({
          code: "ERR_IO",
          message: expect.stringMatching(/Permission denied/),
        });
      },
    );
  });
});
