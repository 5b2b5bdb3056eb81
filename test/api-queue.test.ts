// Unit tests of the per-model FIFO queue with fake tasks (the real generate()
// FIFO test is in api-generate.test.ts and needs the pipeline).
import { describe, expect, it } from "vitest";
import { AbortError, SdError } from "../lib/errors.js";
import { TaskQueue } from "../lib/queue.js";

function deferred<T = void>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

// A fake task that runs until released or aborted (rejecting with the signal's reason, as generate does).
function controllable(log: string[], name: string) {
  const gate = deferred<string>();
  const task = (signal: AbortSignal) => {
    log.push(`start ${name}`);
    signal.addEventListener("abort", () => gate.reject(signal.reason), { once: true });
    return gate.promise.finally(() => log.push(`end ${name}`));
  };
  return { task, release: () => gate.resolve(name) };
}

const tick = () => new Promise((r) => setImmediate(r));

describe("TaskQueue", () => {
  it("runs calls one at a time in call order", async () => {
    const q = new TaskQueue();
    const log: string[] = [];
    const a = controllable(log, "a");
    const b = controllable(log, "b");
    const c = controllable(log, "c");
    const pa = q.run(a.task);
    const pb = q.run(b.task);
    const pc = q.run(c.task);
    await tick();
    expect(log).toEqual(["start a"]);
    expect(q.pending).toBe(2);
    c.release(); // finishing out of order must not let c run early
    b.release();
    await tick();
    expect(log).toEqual(["start a"]);
    a.release();
    expect(await Promise.all([pa, pb, pc])).toEqual(["a", "b", "c"]);
    expect(log).toEqual(["start a", "end a", "start b", "end b", "start c", "end c"]);
    expect(q.busy).toBe(false);
  });

  it("a failing task does not stop the queue", async () => {
    const q = new TaskQueue();
    const p1 = q.run(async () => {
      throw new SdError("ERR_NUMERICAL", "nan");
    });
    const p2 = q.run(async () => 2);
    await expect(p1).rejects.toMatchObject({ code: "ERR_NUMERICAL" });
    expect(await p2).toBe(2);
  });

  it("rejects at once, without running, when the signal is already aborted", async () => {
    const q = new TaskQueue();
    let ran = false;
    const ac = new AbortController();
    ac.abort();
    const err = await q
      .run(async () => {
        ran = true;
      }, ac.signal)
      .catch((e) => e);
    expect(err).toBeInstanceOf(AbortError);
    expect(err).toMatchObject({ name: "AbortError", code: "ABORT_ERR" });
    expect(ran).toBe(false);
  });

  it("aborting a waiting call drops it without disturbing the others", async () => {
    const q = new TaskQueue();
    const log: string[] = [];
    const a = controllable(log, "a");
    const b = controllable(log, "b");
    const c = controllable(log, "c");
    const ac = new AbortController();
    const pa = q.run(a.task);
    const pb = q.run(b.task, ac.signal);
    const pc = q.run(c.task);
    ac.abort();
    await expect(pb).rejects.toMatchObject({ name: "AbortError", code: "ABORT_ERR" });
    expect(q.pending).toBe(1);
    a.release();
    c.release();
    expect(await Promise.all([pa, pc])).toEqual(["a", "c"]);
    expect(log).not.toContain("start b");
  });

  it("aborting the running call aborts its task with an AbortError, then the next runs", async () => {
    const q = new TaskQueue();
    const log: string[] = [];
    const a = controllable(log, "a");
    const b = controllable(log, "b");
    const ac = new AbortController();
    const pa = q.run(a.task, ac.signal);
    const pb = q.run(b.task);
    await tick();
    ac.abort();
    await expect(pa).rejects.toBeInstanceOf(AbortError);
    b.release();
    expect(await pb).toBe("b");
  });

  it("close() rejects waiting and later calls with the reason and waits for the running one", async () => {
    const q = new TaskQueue();
    const log: string[] = [];
    const a = controllable(log, "a");
    const b = controllable(log, "b");
    const pa = q.run(a.task);
    const pb = q.run(b.task);
    await tick();
    const reason = new SdError("ERR_DISPOSED", "disposed");
    const closed = q.close(reason);
    await expect(pb).rejects.toBe(reason);
    await expect(pa).rejects.toBe(reason); // the running task saw its signal abort with the reason
    await closed;
    expect(log).toEqual(["start a", "end a"]);
    await expect(q.run(async () => 1)).rejects.toMatchObject({ code: "ERR_DISPOSED" });
  });

  it("separate queues run concurrently", async () => {
    const q1 = new TaskQueue();
    const q2 = new TaskQueue();
    const log: string[] = [];
    const a = controllable(log, "a");
    const b = controllable(log, "b");
    const pa = q1.run(a.task);
    const pb = q2.run(b.task);
    await tick();
    expect(log).toEqual(["start a", "start b"]);
    a.release();
    b.release();
    await Promise.all([pa, pb]);
  });
});
