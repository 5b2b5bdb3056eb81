// worker_threads (issue 9): the addon is context-aware (NODE_API_MODULE with
// per-environment instance data, native/addon/addon_state.h), so it loads and
// generates inside Workers, several at once and beside the main thread, with
// the same bytes as the main thread. Terminating a Worker in the middle of a
// generation must leave the main thread healthy: it then generates correctly.
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import { describe, expect, it } from "vitest";
import { type NativeGenerateParams, promptTokenizerFor, tokenizePair } from "../lib/generate.js";
import { type GenerateParams, loadModel, resolveParams } from "../lib/index.js";
import { CHEAP, CLIP, imageBytes, LOAD, reportFigures, settledRssMb, TINY_SD1 } from "./helpers/stress.js";

const ROOT = join(__dirname, "..");
const WORKER = join(__dirname, "helpers", "stress-worker.mjs");

type Message =
  | { type: "progress"; stage: string; step: number }
  | { type: "done"; data: Uint8Array }
  | { type: "error"; code: string; message: string };

/** What lib/generate.ts's runGenerate passes to the addon for `params` on tiny-sd1. */
async function nativeParams(params: GenerateParams): Promise<NativeGenerateParams> {
  const info = { family: "sd1" as const, prediction: "epsilon" as const, path: TINY_SD1 };
  const p = resolveParams(params, info);
  const tokens = await tokenizePair(
    await promptTokenizerFor(info, { tokenizer: CLIP }),
    "te1",
    p.prompt,
    p.negativePrompt,
  );
  return {
    prompt: tokens.prompt,
    negativePrompt: tokens.negative,
    width: p.width,
    height: p.height,
    steps: p.steps,
    cfgScale: p.cfgScale,
    sampler: p.sampler,
    scheduler: p.scheduler,
    seed: p.seed,
    rng: p.rng,
    clipSkip: p.clipSkip,
    batchSize: p.batchSize,
    strength: p.strength,
    previewEvery: 0,
    threads: 1,
  };
}

function startWorker(params: NativeGenerateParams, onMessage?: (m: Message, w: Worker) => void) {
  const worker = new Worker(WORKER, { workerData: { root: ROOT, model: TINY_SD1, params } });
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

describe("stress: worker_threads", () => {
  it("three Workers generate at once, beside the main thread, with the main thread's bytes", async () => {
    const model = await loadModel(TINY_SD1, LOAD);
    try {
      const params = await nativeParams(CHEAP);
      const workers = [0, 1, 2].map(() => startWorker(params));
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
      const params = await nativeParams({ ...CHEAP, steps: 30 });
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
