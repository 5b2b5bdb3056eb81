// Refuses a generate() call whose working memory cannot fit, before any
// native work: the engine estimates the call's peak activations
// (native/engine/pipeline/memory_estimate.h) and this compares them with the
// memory the system can still give, so an absurd size or batch is an
// ERR_OUT_OF_MEMORY at once rather than the kernel's OOM killer mid-call.
import { freemem } from "node:os";
import { SdError } from "./errors.js";
import type { NativeModel } from "./native.js";

const GB = 1 << 30;

/**
 * Bytes a call may use: SD_NATIVE_MEMORY_LIMIT (bytes) when set, else the
 * system's available memory (MemAvailable on Linux), capped by a cgroup limit
 * less what this process already holds.
 */
export function availableMemory(): number {
  const limit = Number(process.env.SD_NATIVE_MEMORY_LIMIT);
  if (process.env.SD_NATIVE_MEMORY_LIMIT && Number.isFinite(limit) && limit > 0) return limit;
  const cgroup = process.constrainedMemory?.() ?? 0;
  const free = freemem();
  return cgroup > 0 ? Math.min(free, cgroup - process.memoryUsage().rss) : free;
}

/** Throws ERR_OUT_OF_MEMORY when the call's estimated activations exceed availableMemory(). */
export function checkMemoryBudget(
  nativeModel: NativeModel,
  p: { width: number; height: number; batchSize: number; cfgScale: number },
): void {
  const needed = nativeModel.estimateMemory(p.width, p.height, p.batchSize, p.cfgScale > 1);
  const available = availableMemory();
  if (needed > available) {
    throw new SdError(
      "ERR_OUT_OF_MEMORY",
      `${p.width}x${p.height} with batchSize ${p.batchSize} needs about ${(needed / GB).toFixed(1)} GB of working ` +
        `memory but only ${(available / GB).toFixed(1)} GB is available; use a smaller size or batchSize`,
    );
  }
}
