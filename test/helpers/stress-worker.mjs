// Runs inside a worker_threads Worker for test/stress-workers.test.ts: imports
// the built package (dist/index.js) as a user would, loads a model and
// generates. Posts { type: "progress", stage, step } per event, then
// { type: "done", data } (the first image's RGB bytes) or { type: "error", code, message }.
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { parentPort, workerData } from "node:worker_threads";

const { loadModel } = await import(pathToFileURL(join(workerData.root, "dist", "index.js")).href);

try {
  const model = await loadModel(workerData.model, workerData.load);
  const result = await model.generate(workerData.params, {
    onProgress: (e) => parentPort.postMessage({ type: "progress", stage: e.stage, step: e.step }),
  });
  await model.dispose();
  parentPort.postMessage({ type: "done", data: result.images[0].data });
} catch (err) {
  parentPort.postMessage({ type: "error", code: err?.code, message: String(err?.message ?? err) });
}
