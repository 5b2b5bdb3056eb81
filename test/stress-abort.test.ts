// Abort storm (issue 9): 100 generations, each aborted at a random moment
// (seeded, so every run aborts at the same points): before start, while
// queued behind another call, or at a random progress event of encoding,
// denoising or VAE decoding (the engine is then still working on that stage).
// Every call must reject with an AbortError (code ABORT_ERR), RSS must come
// back near its baseline, and the model must still make the same image, byte
// for byte, as before the storm.
import { describe, expect, it } from "vitest";
import { AbortError, loadModel, type Model, type ProgressEvent } from "../lib/index.js";
import { CHEAP, imageBytes, LOAD, prng, reportFigures, settledRssMb, TINY_SD1 } from "./helpers/stress.js";

const CALLS = 100;
const GROUP = 4; // calls submitted together, so some are aborted while queued
const RSS_LIMIT_MB = 20;

type Moment = { kind: "before" } | { kind: "queued" } | { kind: "event"; index: number };

/** `calls` generations aborted at moments drawn from prng(seed); resolves to each call's outcome. */
async function storm(model: Model, seed: number, calls: number) {
  const random = prng(seed);
  const moments: Moment[] = Array.from({ length: calls }, () => {
    const r = random();
    if (r < 0.1) return { kind: "before" };
    if (r < 0.2) return { kind: "queued" };
    return { kind: "event", index: Math.floor(random() * 7) };
  });
  const stagesHit = { before: 0, queued: 0, encode: 0, denoise: 0, decode: 0 };
  const outcomes: unknown[] = [];
  for (let g = 0; g < calls; g += GROUP) {
    const group = moments.slice(g, g + GROUP).map((moment, i) => {
      const ac = new AbortController();
      if (moment.kind === "before") {
        ac.abort();
        stagesHit.before++;
      }
      let seen = 0;
      const onProgress = (e: ProgressEvent) => {
        if (moment.kind === "event" && seen++ === moment.index && !ac.signal.aborted) {
          stagesHit[e.stage as "encode" | "denoise" | "decode"]++;
          ac.abort();
        }
      };
      const call = model.generate({ ...CHEAP, seed: g + i }, { signal: ac.signal, onProgress });
      if (moment.kind === "queued") {
        // Right after the call: it is still being prepared or waiting behind the group's first call.
        stagesHit.queued++;
        ac.abort();
      }
      return call.then(
        () => "resolved",
        (e: unknown) => e,
      );
    });
    outcomes.push(...(await Promise.all(group)));
  }
  return { outcomes, stagesHit };
}

describe("stress: abort storm", () => {
  it("100 randomly aborted generations all reject with ABORT_ERR; the model is unharmed", {
    timeout: 120_000,
  }, async () => {
    const model = await loadModel(TINY_SD1, LOAD);
    try {
      const reference = await model.generate(CHEAP);
      // Warm-up: a smaller storm (another seed), so that every libuv thread that runs
      // generations has its malloc arena and the allocator's caches are filled before the baseline.
      await storm(model, 1, 40);
      const baseline = await settledRssMb();
      const t0 = performance.now();
      const { outcomes, stagesHit } = await storm(model, 20261130, CALLS);
      const seconds = (performance.now() - t0) / 1000;

      const aborted = outcomes.filter((e) => e instanceof AbortError && (e as AbortError).code === "ABORT_ERR");
      const others = outcomes.filter((e) => !(e instanceof AbortError));
      expect(others).toEqual([]);
      expect(aborted).toHaveLength(CALLS);
      // The seeded draw covers every moment, decode included.
      expect(Object.values(stagesHit).every((n) => n > 0)).toBe(true);
      expect(Object.values(stagesHit).reduce((a, b) => a + b, 0)).toBe(CALLS);

      const after = await settledRssMb();
      const again = await model.generate(CHEAP);
      expect(imageBytes(again).equals(imageBytes(reference))).toBe(true);
      reportFigures("abort-storm", {
        calls: CALLS,
        rejectedAbortErr: aborted.length,
        otherOutcomes: others.length,
        stagesHit,
        rssBaselineMb: baseline,
        rssAfterMb: after,
        growthMb: after - baseline,
        sameImageAfter: true,
        seconds,
      });
      expect(after - baseline).toBeLessThan(RSS_LIMIT_MB);
    } finally {
      await model.dispose();
    }
  });
});
