// worker_threads (issue 9): the addon is context-aware (NODE_API_MODULE with
// per-environment instance data, native/addon/addon_state.h), so it loads and
// generates inside Workers, several at once and beside the main thread, with
// the same bytes as the main thread. Terminating a Worker in the middle of a
// generation must leave the main thread healthy: it then generates correctly.
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import { beforeAll, describe, expect, it } from "vitest";
import { type GenerateParams, loadModel } from "../lib/index.js";
import { CHEAP, imageBytes, LOAD, reportFigures, settledRssMb, TINY_SD1 } from "./helpers/stress.js";
import { ensureDist } from "./package-helpers.js";

const ROOT = join(__dirname, "..");
const WORKER = join(__dirname, "helpers", "stress-worker.mjs");

type Message =
  | { type: "progress"; stage: string; step: number }
  | { type: "done"; data: Uint8Array }
  | { type: "error"; code: string; message: string };

/** A Worker that imports dist/index.js and runs loadModel(TINY_SD1, LOAD) + generate(params). */
function startWorker(params: GenerateParams, onMessage?: (m: Message, w: Worker) => void) {
  const worker = new Worker(WORKER, { workerData: { root: ROOT, model: TINY_SD1, load: LOAD, params } });
  const result = new Promise<{ message?: Message; exitCode: number; exitedAt: number }>((resolve, reject) => {
    let last: Message | undefined;
    worker.on("message", (m: Message) => {
      if (m.type !== "progress") last = m;
      onMessage?.(m, worker);
    });
    worker.on("error", reject);
    worker.on("exit", (exitCode) => resolve({ message: last, exitCode, exitedAt: performance.now() }));
  });
  return { worker, result };
}

beforeAll(() => {
  ensureDist();
}, 120_000);

describe("stress: worker_threads", () => {
  it("three Workers generate at once, beside the main thread, with the main thread's bytes", async () => {
    const model = await loadModel(TINY_SD1, LOAD);
    try {
      const workers = [0, 1, 2].map(() => startWorker(CHEAP));
      const main = await model.generate(CHEAP);
      const outcomes = await Promise.all(workers.map((w) => w.result));
      for (const o of outcomes) {
        expect(o.message?.type).toBe("done");
        expect(o.exitCode).toBe(0);
        const data = (o.message as { data: Uint8Array }).data;
        expect(Buffer.from(data).equals(imageBytes(main))).toBe(true);
      }
    } finally {
      await model.dispose();
    }
  });

  it("terminating a Worker mid-generation leaves the main thread healthy", { timeout: 120_000 }, async () => {
    const model = await loadModel(TINY_SD1, LOAD);
    try {
      const reference = await model.generate(CHEAP);
      const before = await settledRssMb();
      // Long enough (30 steps) that the terminate lands while the engine is denoising.
      const params = { ...CHEAP, steps: 30 };
      let terminatedAt = 0;
      let stageAtTerminate = "";
      const { result } = startWorker(params, (m, w) => {
        if (m.type === "progress" && m.stage === "denoise" && m.step === 2 && !stageAtTerminate) {
          stageAtTerminate = `${m.stage} ${m.step}`;
          terminatedAt = performance.now();
          void w.terminate();
        }
      });
      // Meanwhile the main thread keeps generating.
      const during = await model.generate(CHEAP);
      const outcome = await result;
      // Node lets the Worker's in-flight native call finish before the Worker is gone.
      const exitSeconds = (outcome.exitedAt - terminatedAt) / 1000;
      expect(stageAtTerminate).toBe("denoise 2");
      expect(outcome.message).toBeUndefined(); // neither "done" nor "error": it was stopped
      expect(outcome.exitCode).toBe(1);
      const after = await model.generate(CHEAP);
      const rss = await settledRssMb();
      for (const r of [during, after]) expect(imageBytes(r).equals(imageBytes(reference))).toBe(true);
      reportFigures("worker-terminate", { exitSeconds, rssGrowthMb: rss - before });
    } finally {
      await model.dispose();
    }
  });
});
