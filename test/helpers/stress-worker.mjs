// Runs inside a worker_threads Worker for test/stress-workers.test.ts: loads
// the native addon the way lib/native.ts does (node-gyp-build from the
// package root), loads a model and generates with already tokenized params.
// Posts { type: "progress", stage, step } per event, then { type: "done",
// data } or { type: "error", code, message }.
import { createRequire } from "node:module";
import { parentPort, workerData } from "node:worker_threads";

const require = createRequire(import.meta.url);
const gypBuild = require("node-gyp-build");
const addon = require(gypBuild.path(workerData.root));

try {
  const model = await addon.loadModel(workerData.model, {});
  const handle = model.generate(workerData.params, (e) =>
    parentPort.postMessage({ type: "progress", stage: e.stage, step: e.step }),
  );
  const out = await handle.promise;
  model.dispose();
  parentPort.postMessage({ type: "done", data: out.images[0].data });
} catch (err) {
  parentPort.postMessage({ type: "error", code: err?.code, message: String(err?.message ?? err) });
}
