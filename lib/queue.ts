// Per-model FIFO: calls on one model run one at a time, in call order (the
// engine model is not re-entrant and a second call would only halve the speed
// of both). Different models have different queues and run concurrently.
import { getMaxListeners, setMaxListeners } from "node:events";
import { AbortError, type SdError } from "./errors.js";

/** A unit of work. It must settle soon after `signal` aborts (rejecting with signal.reason). */
export type Task<T> = (signal: AbortSignal) => Promise<T>;

interface Entry {
  run: (signal: AbortSignal) => Promise<unknown>;
  controller: AbortController;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
  detach: () => void;
}

export class TaskQueue {
  #waiting: Entry[] = [];
  #running: { entry: Entry; settled: Promise<void> } | undefined;
  #closed: SdError | undefined;

  /** Calls waiting behind the running one. */
  get pending(): number {
    return this.#waiting.length;
  }

  get busy(): boolean {
    return this.#running !== undefined;
  }

  /**
   * Queues `task`. `signal` aborts it: a waiting task is dropped at once, a
   * running one gets its own signal aborted; either way the promise rejects
   * with an AbortError.
   */
  run<T>(task: Task<T>, signal?: AbortSignal): Promise<T> {
    if (this.#closed) return Promise.reject(this.#closed);
    if (signal?.aborted) return Promise.reject(new AbortError(undefined, { cause: signal.reason }));
    return new Promise<T>((resolve, reject) => {
      const controller = new AbortController();
      const onAbort = () => {
        const err = new AbortError(undefined, { cause: signal?.reason });
        const i = this.#waiting.indexOf(entry);
        if (i >= 0) {
          this.#waiting.splice(i, 1);
          entry.detach();
          reject(err);
        } else {
          controller.abort(err);
        }
      };
      const entry: Entry = {
        run: task,
        controller,
        resolve: resolve as (v: unknown) => void,
        reject,
        detach: () => signal?.removeEventListener("abort", onAbort),
      };
      if (signal) {
        // One listener per queued call: a signal shared by many queued calls
        // must not trip Node's listener-leak warning (10 by default).
        setMaxListeners(Math.max(getMaxListeners(signal), this.#waiting.length + 2), signal);
        signal.addEventListener("abort", onAbort, { once: true });
      }
      this.#waiting.push(entry);
      this.#pump();
    });
  }

  #pump(): void {
    if (this.#running) return;
    const entry = this.#waiting.shift();
    if (!entry) return;
    let task: Promise<unknown>;
    try {
      task = entry.run(entry.controller.signal);
    } catch (err) {
      task = Promise.reject(err);
    }
    const settled = task.then(entry.resolve, entry.reject).finally(() => {
      entry.detach();
      this.#running = undefined;
      this.#pump();
    });
    this.#running = { entry, settled };
  }

  /**
   * Closes the queue: waiting calls and later ones reject with `reason`; the
   * running call is aborted with `reason`. Resolves once it has settled.
   */
  async close(reason: SdError): Promise<void> {
    this.#closed = reason;
    for (const entry of this.#waiting.splice(0)) {
      entry.detach();
      entry.reject(reason);
    }
    const running = this.#running;
    if (running) {
      running.entry.controller.abort(reason);
      await running.settled;
    }
  }
}
