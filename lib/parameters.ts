// The generation recipe in the text format of the most used SD web UI
// (AUTOMATIC1111), stored in PNGs as the `parameters` text chunk:
//   <prompt>
//   Negative prompt: <negative>
//   Steps: 20, Sampler: Euler a, Schedule type: Karras, CFG scale: 7, Seed: 42, Size: 512x512, Model: name, ...
import type { ResolvedParams, Sampler, Scheduler } from "./options.js";

const SAMPLER_NAMES: Record<Sampler, string> = {
  euler: "Euler",
  euler_a: "Euler a",
  heun: "Heun",
  dpm2: "DPM2",
  "dpm++2m": "DPM++ 2M",
  "dpm++2s_a": "DPM++ 2S a",
  "dpm++2m_sde": "DPM++ 2M SDE",
  lms: "LMS",
  ddim: "DDIM",
  pndm: "PLMS",
  lcm: "LCM",
  unipc: "UniPC",
  ipndm: "iPNDM",
  tcd: "TCD",
};

// "discrete" is the web UI's default ("Automatic"), which it does not write.
const SCHEDULE_NAMES: Record<Scheduler, string | undefined> = {
  discrete: undefined,
  karras: "Karras",
  exponential: "Exponential",
  sgm_uniform: "SGM Uniform",
  simple: "Simple",
  ays: "Align Your Steps",
};

// Values with a comma, colon or quote are quoted (as the web UI does) so that the line still parses.
function value(v: string | number): string {
  const s = String(v);
  return /[,:"\n]/.test(s) ? JSON.stringify(s) : s;
}

export interface ParametersContext {
  /** Model name (file name without extension). */
  model: string;
  /** Index of the image in its batch. */
  batchIndex: number;
}

export function formatParameters(p: ResolvedParams, ctx: ParametersContext): string {
  const fields: Array<[string, string | number]> = [
    ["Steps", p.steps],
    ["Sampler", SAMPLER_NAMES[p.sampler]],
  ];
  const schedule = p.sigmas ? "Custom" : SCHEDULE_NAMES[p.scheduler];
  if (schedule) fields.push(["Schedule type", schedule]);
  fields.push(["CFG scale", p.cfgScale], ["Seed", p.seed], ["Size", `${p.width}x${p.height}`], ["Model", ctx.model]);
  if (p.initImage !== undefined) fields.push(["Denoising strength", p.strength]);
  if (p.clipSkip > 1) fields.push(["Clip skip", p.clipSkip]);
  // The web UI's default RNG is the GPU one; "CPU" tells it to reproduce ours.
  fields.push(["RNG", "CPU"]);
  if (p.batchSize > 1) fields.push(["Batch size", p.batchSize], ["Batch pos", ctx.batchIndex]);
  const lines = [p.prompt];
  if (p.negativePrompt !== "") lines.push(`Negative prompt: ${p.negativePrompt}`);
  lines.push(fields.map(([k, v]) => `${k}: ${value(v)}`).join(", "));
  return lines.join("\n");
}
