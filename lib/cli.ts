#!/usr/bin/env node
// The sd-native command line. Errors print one line (code + message); the
// stack only with --verbose.
import { readFileSync } from "node:fs";
import { Command } from "commander";
import { addConvertCommand } from "./cli-convert.js";
import { addGenerateCommand } from "./cli-generate.js";
import { SdError } from "./errors.js";
import { loadModel } from "./model.js";

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string };
  return pkg.version;
}

function formatBytes(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} GB`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)} MB`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} kB`;
  return `${n} B`;
}

async function infoCommand(modelPath: string, opts: { json?: boolean; config?: string }): Promise<void> {
  const model = await loadModel(modelPath, { config: opts.config });
  try {
    const info = model.info;
    if (opts.json) {
      process.stdout.write(`${JSON.stringify(info, null, 2)}\n`);
      return;
    }
    const lines = [
      `path:        ${info.path}`,
      `format:      ${info.format}`,
      `family:      ${info.family}${info.inpaint ? " (inpainting)" : ""}`,
      `prediction:  ${info.prediction}`,
      `parameters:  ${(info.parameterCount / 1e6).toFixed(1)} M`,
      `size:        ${formatBytes(info.fileSize)}`,
      "components:",
      ...Object.entries(info.components).map(
        ([name, c]) => `  ${name.padEnd(5)} ${c.dtype.padEnd(5)} ${(c.parameterCount / 1e6).toFixed(1)} M params`,
      ),
    ];
    process.stdout.write(`${lines.join("\n")}\n`);
  } finally {
    await model.dispose();
  }
}

export async function main(argv: string[]): Promise<number> {
  const program = new Command();
  let verbose = false;
  program
    .name("sd-native")
    .description("Stable Diffusion on a native engine, from Node.js")
    .version(packageVersion(), "-v, --version")
    .option("--verbose", "print stack traces on errors")
    .hook("preAction", (cmd) => {
      verbose = Boolean(cmd.opts().verbose);
    });
  program
    .command("info")
    .description("print what a checkpoint is: family, format, components, dtypes, size")
    .argument("<model>", "checkpoint file or diffusers folder")
    .option("--json", "print machine-readable JSON")
    .option("--config <dir>", "diffusers folder with config.json files for a single-file checkpoint")
    .action(infoCommand);
  addGenerateCommand(program);
  addConvertCommand(program);
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (err) {
    const e = err as Error & { code?: string };
    if (e.code === "ABORT_ERR") {
      process.stderr.write("sd-native: cancelled\n");
      return 130;
    }
    const code = err instanceof SdError || typeof e.code === "string" ? e.code : "ERR_INTERNAL";
    process.stderr.write(`sd-native: ${code}: ${e.message}\n`);
    if (verbose && e.stack) process.stderr.write(`${e.stack}\n`);
    return 1;
  }
}

// A closed pipe (`sd-native generate --json ... | head`) is the reader's
// choice, not an error worth a stack trace.
process.stdout.on("error", (err: Error & { code?: string }) => {
  if (err.code === "EPIPE") process.exit(process.exitCode ?? 0);
  throw err;
});

main(process.argv).then((code) => {
  process.exitCode = code;
});
