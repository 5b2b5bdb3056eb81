// Concurrency (issue 9): three models (tiny-sd1 loaded twice, one of them with
// a 2-thread pool, and tiny-sd2) each get several calls, all submitted at
// once and interleaved. Every result must equal, byte for byte, the same call
// run alone on an idle process. dispose() while calls are queued must reject
// the running and queued calls with ERR_DISPOSED, leave the other models'
// calls untouched, and leave the process able to load and generate.
import { describe, expect, it } from "vitest";
import { type GenerateParams, loadModel, type Model, SdError } from "../lib/index.js";
import { CHEAP, CLIP, imageBytes, LOAD, reportFigures, TINY_SD1, TINY_SD2 } from "./helpers/stress.js";

const CALLS: GenerateParams[] = [
  { ...CHEAP, seed: 1 },
  { ...CHEAP, seed: 2, sampler: "euler" },
  { ...CHEAP, seed: 3, steps: 3, cfgScale: 5 },
  { ...CHEAP, seed: 4, sampler: "dpm++2m", prompt: "a blue sphere" },
];

describe("stress: concurrency", () => {
  it("interleaved calls on three models equal the same calls run alone", { timeout: 120_000 }, async () => {
    const models: Model[] = [
      await loadModel(TINY_SD1, LOAD),
      await loadModel(TINY_SD1, { tokenizer: CLIP, threads: 2 }),
      await loadModel(TINY_SD2, LOAD),
    ];
    try {
      const alone: Buffer[][] = [];
      for (const m of models) {
        const row: Buffer[] = [];
        for (const c of CALLS) row.push(imageBytes(await m.generate(c)));
        alone.push(row);
      }
      // Same seeds, different models: the SD2 images must differ from SD1's (the comparison can fail).
      expect(alone[2]?.[0]?.equals(alone[0]?.[0] as Buffer)).toBe(false);

      // Round-robin submission, two rounds: 3 models x 4 calls x 2 = 24 calls in flight together.
      const t0 = performance.now();
      const jobs: { model: number; call: number; result: Promise<Buffer> }[] = [];
      for (let round = 0; round < 2; round++)
        for (let c = 0; c < CALLS.length; c++)
          for (let m = 0; m < models.length; m++) {
            const call = (c + round) % CALLS.length;
            jobs.push({
              model: m,
              call,
              result: (models[m] as Model).generate(CALLS[call] as GenerateParams).then(imageBytes),
            });
          }
      const results = await Promise.all(jobs.map((j) => j.result));
      const seconds = (performance.now() - t0) / 1000;
      const mismatches = jobs.filter((j, i) => !results[i]?.equals(alone[j.model]?.[j.call] as Buffer)).length;
      reportFigures("concurrency", { models: models.length, calls: jobs.length, mismatches, seconds });
      expect(mismatches).toBe(0);
    } finally {
      for (const m of models) await m.dispose();
    }
  });

  it("dispose() during queued work rejects the queued calls with ERR_DISPOSED; the rest is unharmed", async () => {
    const victim = await loadModel(TINY_SD1, LOAD);
    const bystander = await loadModel(TINY_SD2, LOAD);
    try {
      const expected = imageBytes(await bystander.generate(CALLS[0] as GenerateParams));
      const bystanderCall = bystander.generate(CALLS[0] as GenerateParams).then(imageBytes);
      // The first call runs (until dispose aborts it), the other four wait in the queue.
      let started!: () => void;
      const running = new Promise<void>((r) => {
        started = r;
      });
      const calls = CALLS.map((c, i) => victim.generate(c, i === 0 ? { onProgress: () => started() } : {}));
      calls.push(victim.generate(CALLS[1] as GenerateParams));
      const settled = Promise.allSettled(calls);
      await running;
      await victim.dispose();
      const outcomes = await settled;
      const codes = outcomes.map((o) => (o.status === "rejected" ? (o.reason as SdError).code : "resolved"));
      expect(codes).toEqual(Array(calls.length).fill("ERR_DISPOSED"));
      expect(outcomes.every((o) => o.status === "rejected" && o.reason instanceof SdError)).toBe(true);
      await expect(victim.generate(CHEAP)).rejects.toMatchObject({ code: "ERR_DISPOSED" });
      expect((await bystanderCall).equals(expected)).toBe(true);

      // The process is healthy: a fresh load of the disposed model's file generates correctly.
      const reloaded = await loadModel(TINY_SD1, LOAD);
      const fresh = await loadModel(TINY_SD1, LOAD);
      try {
        expect(imageBytes(await reloaded.generate(CHEAP)).equals(imageBytes(await fresh.generate(CHEAP)))).toBe(true);
      } finally {
        await reloaded.dispose();
        await fresh.dispose();
      }
    } finally {
      await victim.dispose();
      await bystander.dispose();
    }
  });
});
