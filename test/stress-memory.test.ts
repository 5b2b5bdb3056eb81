// Memory over many calls (issue 9): 100 consecutive generate() calls and 50
// loadModel/dispose cycles on the tiny model may grow RSS by less than 20 MB
// after warm-up (RSS read after a full GC, so only native memory that stays
// reachable or leaked counts). A leaked model (its weights are mapped and
// converted, several MB) per cycle, or a call's activations per call, would
// exceed the bound; a leaked output image alone (12 KB) would not.
import { describe, expect, it } from "vitest";
import { loadModel } from "../lib/index.js";
import { CHEAP, imageBytes, LOAD, reportFigures, settledRssMb, TINY_SD1 } from "./helpers/stress.js";

const LIMIT_MB = 20;

describe("stress: memory", () => {
  it("100 consecutive generate() calls grow RSS by < 20 MB after warm-up", { timeout: 120_000 }, async () => {
    const model = await loadModel(TINY_SD1, LOAD);
    try {
      const first = await model.generate(CHEAP);
      for (let i = 0; i < 4; i++) await model.generate({ ...CHEAP, seed: i });
      const before = await settledRssMb();
      const t0 = performance.now();
      for (let i = 0; i < 100; i++) {
        const r = await model.generate({ ...CHEAP, seed: 1000 + i });
        expect(r.images).toHaveLength(1);
      }
      const seconds = (performance.now() - t0) / 1000;
      const after = await settledRssMb();
      // Nothing a call leaves behind changes the next one.
      const again = await model.generate(CHEAP);
      expect(imageBytes(again).equals(imageBytes(first))).toBe(true);
      const growth = after - before;
      reportFigures("generate-100", { rssBeforeMb: before, rssAfterMb: after, growthMb: growth, seconds });
      expect(growth).toBeLessThan(LIMIT_MB);
    } finally {
      await model.dispose();
    }
  });

  it("50 loadModel/dispose cycles grow RSS by < 20 MB after warm-up", { timeout: 120_000 }, async () => {
    const cycle = async (withGenerate: boolean) => {
      const m = await loadModel(TINY_SD1, LOAD);
      if (withGenerate) await m.generate(CHEAP);
      await m.dispose();
    };
    for (let i = 0; i < 3; i++) await cycle(true);
    const before = await settledRssMb();
    const t0 = performance.now();
    // Every 10th cycle also generates, so per-model state created lazily by a call (LoRA cache, bound weights) is freed too.
    for (let i = 0; i < 50; i++) await cycle(i % 10 === 0);
    const seconds = (performance.now() - t0) / 1000;
    const after = await settledRssMb();
    const growth = after - before;
    reportFigures("load-dispose-50", { rssBeforeMb: before, rssAfterMb: after, growthMb: growth, seconds });
    expect(growth).toBeLessThan(LIMIT_MB);
  });
});
