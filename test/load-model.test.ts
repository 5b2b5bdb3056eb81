import { existsSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { type LoadOptions, loadModel, SdError } from "../lib/index.js";

const FIXTURES = join(__dirname, "..", "..", "shared", "fixtures");

describe("loadModel", () => {
  it("opens the tiny SD1 single-file checkpoint", async () => {
    const path = join(FIXTURES, "tiny-sd1", "tiny-sd1.safetensors");
    expect(existsSync(path)).toBe(true);
    const model = await loadModel(path);
    expect(model.info.family).toBe("sd1");
    expect(model.info.format).toBe("safetensors");
    await model.dispose();
    expect(model.disposed).toBe(true);
  });

  it("rejects a missing file with ERR_MODEL_NOT_FOUND", async () => {
    await expect(loadModel(join(FIXTURES, "nope.safetensors"))).rejects.toMatchObject({
      code: "ERR_MODEL_NOT_FOUND",
    });
  });

  it("rejects bad options before any native work", async () => {
    await expect(loadModel("")).rejects.toBeInstanceOf(SdError);
    await expect(loadModel("x", { threads: 0 })).rejects.toMatchObject({ code: "ERR_INVALID_OPTION" });
    await expect(loadModel("x", { thread: 1 } as unknown as LoadOptions)).rejects.toMatchObject({
      code: "ERR_INVALID_OPTION",
      message: expect.stringMatching(/^thread: is not an option of loadModel\(\); known: threads/),
    });
  });
});
