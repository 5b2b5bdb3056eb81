// Progress events: native stage/step reports -> ProgressEvent with timing,
// ETA and preview Image; and a small async queue for generateStream().
import { Image } from "./image.js";

export type Stage = "load" | "encode" | "denoise" | "decode";

export interface ProgressEvent {
  stage: Stage;
  /** 0 .. steps within the stage (denoise: 0 before the first step, k after step k). */
  step: number;
  steps: number;
  /** Noise level reached (denoise only). */
  sigma?: number;
  /** Since the call started running (queue wait excluded). */
  elapsedMs: number;
  /** Remaining denoise time, from the mean step time so far (denoise, after the first step). */
  etaMs?: number;
  /** Cheap latent preview (latent resolution), every `previewEvery` steps. */
  preview?: Image;
}

/** An event as the addon delivers it. */
export interface NativeEvent {
  stage: Stage;
  step: number;
  steps: number;
  sigma?: number;
  preview?: { width: number; height: number; data: Uint8Array };
}

/** Turns the native event stream of one call into ProgressEvents. */
export class ProgressTracker {
  readonly #start: number;
  #denoiseStart: number | undefined;
  readonly #now: () => number;

  constructor(now: () => number = performance.now.bind(performance)) {
    this.#now = now;
    this.#start = now();
  }

  event(e: NativeEvent): ProgressEvent {
    const t = this.#now();
    const out: ProgressEvent = { stage: e.stage, step: e.step, steps: e.steps, elapsedMs: t - this.#start };
    if (e.sigma !== undefined) out.sigma = e.sigma;
    if (e.stage === "denoise") {
      if (e.step === 0 || this.#denoiseStart === undefined) this.#denoiseStart = t;
      if (e.step > 0) out.etaMs = ((t - this.#denoiseStart) / e.step) * (e.steps - e.step);
    }
    if (e.preview) out.preview = new Image(e.preview.width, e.preview.height, new Uint8Array(e.preview.data));
    return out;
  }
}

/** Unbounded single-consumer queue that an async iterator drains; ends with a value or an error. */
export class EventQueue<T, R> {
  #items: T[] = [];
  #done: { ok: true; value: R } | { ok: false; error: unknown } | undefined;
  #wake: (() => void) | undefined;

  push(item: T): void {
    this.#items.push(item);
    this.#wake?.();
  }
  finish(value: R): void {
    this.#done = { ok: true, value };
    this.#wake?.();
  }
  fail(error: unknown): void {
    this.#done = { ok: false, error };
    this.#wake?.();
  }

  /** Yields every pushed item in order, then the final value (or throws the error). */
  async *drain(): AsyncGenerator<T | R, void, undefined> {
    for (;;) {
      const item = this.#items.shift();
      if (item !== undefined) {
        yield item;
        continue;
      }
      const done = this.#done;
      if (done) {
        if (!done.ok) throw done.error;
        yield done.value;
        return;
      }
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
      this.#wake = undefined;
    }
  }
}
