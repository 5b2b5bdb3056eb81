// JS fuzz targets (run by scripts/fuzz-js.mjs, bundled with esbuild). Each
// target takes one input and may only return or throw SdError; any other
// exception, a hang or an unjustified allocation is a finding.
import { SdError } from "../../lib/errors.js";
import { decodeImageInput, resize, toGray, toRgb } from "../../lib/image-input.js";
import { readPngText } from "../../lib/png-text.js";
import { encodePromptPair, PAD_OPENCLIP, PAD_SD1 } from "../../lib/prompt/index.js";
import { loadTokenizer, type Tokenizer } from "../../lib/tokenizer/index.js";

export { SdError };

/** initImage / mask bytes: decode (pngjs / jpeg-js), convert, resize small, and read PNG text chunks. */
export async function image(bytes: Uint8Array): Promise<void> {
  try {
    readPngText(bytes);
  } catch (err) {
    if (!(err instanceof SdError)) throw err;
  }
  const px = await decodeImageInput(bytes, "initImage");
  if (px.data.length !== px.width * px.height * px.channels) throw new Error("decoded size does not match dimensions");
  resize(toRgb(px), 8, 8);
  resize(toGray(px), 8, 8);
}

let tokenizer: Tokenizer | undefined;
export async function setup(vocabPath: string): Promise<void> {
  tokenizer = await loadTokenizer(vocabPath);
}

/**
 * Prompt syntax + CLIP tokenizer, as generate() runs them: must never throw on any string.
 * Returns a rough shape of the result (chunks, LoRAs, distinct weights) so the fuzzer keeps
 * inputs that parse differently.
 */
export function prompt(bytes: Uint8Array): string {
  const tok = tokenizer as Tokenizer;
  const text = new TextDecoder().decode(bytes);
  // The negative prompt: the same text reversed, for a different chunk count.
  const neg = [...text].reverse().join("");
  let shape = "";
  for (const padId of [PAD_SD1, PAD_OPENCLIP]) {
    const { positive, negative } = encodePromptPair(text, neg, tok, { padId, commaBacktrack: padId === 0 ? 20 : 0 });
    if (positive.chunks.length !== negative.chunks.length || positive.chunks.length < 1) {
      throw new Error("prompt pair chunk counts differ");
    }
    for (const c of [...positive.chunks, ...negative.chunks]) {
      if (c.ids.length !== 77 || c.weights.length !== 77) throw new Error(`chunk of ${c.ids.length} ids`);
      if (c.ids.some((id) => !Number.isInteger(id) || id < 0 || id >= tok.vocabSize))
        throw new Error("token id out of range");
      if (c.weights.some((w) => !Number.isFinite(w))) throw new Error("non-finite token weight");
    }
    shape = `${positive.chunks.length}/${positive.loras.length}/${new Set(positive.chunks.flatMap((c) => c.weights)).size}`;
  }
  return shape;
}

/** The tokenizer alone: encode, ids in range, decode. Returns the token count's order of magnitude. */
export function tokenizer_(bytes: Uint8Array): string {
  const tok = tokenizer as Tokenizer;
  const text = new TextDecoder().decode(bytes);
  const ids = tok.encode(text);
  if (ids[0] !== tok.bos || ids[ids.length - 1] !== tok.eos) throw new Error("encode() lost BOS/EOS");
  if (ids.some((id) => !Number.isInteger(id) || id < 0 || id >= tok.vocabSize))
    throw new Error("token id out of range");
  tok.decode(ids);
  return String(Math.round(Math.log2(ids.length)));
}
