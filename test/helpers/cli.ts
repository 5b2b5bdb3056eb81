// Runs the built CLI (dist/cli.js) as users run it, for the CLI tests, and
// checks its error form.
import { join } from "node:path";
import { expect } from "vitest";
import { REPO, type RunResult, run } from "../package-helpers.js";

export const CLI = join(REPO, "dist", "cli.js");

export function cli(...args: string[]): RunResult {
  return run(process.execPath, [CLI, ...args], REPO);
}

/** A failure before any progress output: stderr is exactly one "sd-native: CODE: ..." line. */
export function expectOneLineError(stderr: string, code: string): void {
  const lines = stderr.trim().split("\n");
  expect(lines, stderr).toHaveLength(1);
  expect(lines[0]).toMatch(new RegExp(`^sd-native: ${code}: `));
}
