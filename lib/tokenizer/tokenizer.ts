import { BYTE_CHAR, BYTE_OF_CHAR } from "./byte-encoder.js";
import { fixText } from "./text-fix.js";
import { BOS_TOKEN, EOS_TOKEN, loadVocabulary, type Vocabulary } from "./vocab.js";

/** Unicode White_Space (what the reference's `\s` matches), spelled out because JS `\s` differs (U+0085, U+FEFF). */
const WS = "\\t-\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";
const WS_RUN_RE = new RegExp(`[${WS}]+`, "g");
/** CLIP's pre-tokenizer: special tokens, English contractions, letter runs, single digits, other non-space runs. */
const PIECE_RE = new RegExp(
  `<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|\\p{L}+|\\p{N}|[^${WS}\\p{L}\\p{N}]+`,
  "giu",
);
/** Literal special tokens in the input are split out before any clean-up, as the reference does. */
const SPECIAL_SPLIT_RE = /(<\|startoftext\|>|<\|endoftext\|>)/;

/** Bounds memory on adversarial input; real prompts reuse a few thousand words. */
const CACHE_LIMIT = 65_536;

/** The reference clean-up: ftfy fixes, whitespace collapsed and trimmed, lower-cased. */
export function cleanText(text: string): string {
  return fixText(text).replace(WS_RUN_RE, " ").trim().toLowerCase();
}

export class Tokenizer {
  readonly bos: number;
  readonly eos: number;
  readonly vocabSize: number;
  readonly #encoder: ReadonlyMap<string, number>;
  readonly #ranks: ReadonlyMap<string, number>;
  readonly #decoder: string[] = [];
  readonly #cache = new Map<string, number[]>();
  readonly #utf8 = new TextEncoder();

  constructor(vocab: Vocabulary) {
    this.#encoder = vocab.encoder;
    this.#ranks = vocab.ranks;
    this.bos = vocab.encoder.get(BOS_TOKEN) as number;
    this.eos = vocab.encoder.get(EOS_TOKEN) as number;
    for (const [token, id] of vocab.encoder) this.#decoder[id] = token;
    this.vocabSize = this.#decoder.length;
  }

  /** Token ids for `text`: BOS, the BPE tokens of the cleaned text, EOS. No truncation or padding. */
  encode(text: string): number[] {
    const ids = [this.bos];
    for (const part of text.split(SPECIAL_SPLIT_RE)) {
      if (part === BOS_TOKEN) ids.push(this.bos);
      else if (part === EOS_TOKEN) ids.push(this.eos);
      else if (part.length > 0) this.#encodeClean(cleanText(part), ids);
    }
    ids.push(this.eos);
    return ids;
  }

  /** Text for `ids`: BOS/EOS dropped, word ends become spaces, invalid UTF-8 becomes U+FFFD. */
  decode(ids: readonly number[]): string {
    const bytes: number[] = [];
    for (const id of ids) {
      if (id === this.bos || id === this.eos) continue;
      const token = this.#decoder[id];
      if (token === undefined) continue;
      const word = token.endsWith("</w>") ? token.slice(0, -4) : token;
      for (let i = 0; i < word.length; i++) {
        const b = BYTE_OF_CHAR.get(word.charCodeAt(i));
        if (b !== undefined) bytes.push(b);
      }
      if (word !== token) bytes.push(0x20);
    }
    return new TextDecoder("utf-8").decode(new Uint8Array(bytes)).trimEnd();
  }

  #encodeClean(text: string, out: number[]): void {
    for (const match of text.matchAll(PIECE_RE)) {
      const piece = match[0];
      if (piece === BOS_TOKEN) out.push(this.bos);
      else if (piece === EOS_TOKEN) out.push(this.eos);
      else for (const id of this.#pieceIds(piece)) out.push(id);
    }
  }

  #pieceIds(piece: string): number[] {
    const cached = this.#cache.get(piece);
    if (cached) return cached;
    let symbols = "";
    for (const b of this.#utf8.encode(piece)) symbols += BYTE_CHAR[b];
    const ids = this.#bpe(symbols).map((t) => this.#encoder.get(t) ?? this.eos);
    if (this.#cache.size >= CACHE_LIMIT) this.#cache.clear();
    this.#cache.set(piece, ids);
    return ids;
  }

  /** Byte-level BPE: repeatedly merge the adjacent pair with the lowest rank, every occurrence left to right. */
  #bpe(symbols: string): string[] {
    let word = symbols.split("");
    word[word.length - 1] += "</w>";
    while (word.length > 1) {
      let best = Number.POSITIVE_INFINITY;
      let bestAt = -1;
      for (let i = 0; i < word.length - 1; i++) {
        const rank = this.#ranks.get(`${word[i]} ${word[i + 1]}`);
        if (rank !== undefined && rank < best) {
          best = rank;
          bestAt = i;
        }
      }
      if (bestAt < 0) break;
      const first = word[bestAt] as string;
      const second = word[bestAt + 1] as string;
      const merged: string[] = [];
      for (let i = 0; i < word.length; i++) {
        if (i < word.length - 1 && word[i] === first && word[i + 1] === second) {
          merged.push(first + second);
          i++;
        } else {
          merged.push(word[i] as string);
        }
      }
      word = merged;
    }
    return word;
  }
}

/** Loads the CLIP tokenizer from bpe_simple_vocab_16e6.txt.gz, a vocab.json (merges.txt beside it), or a folder. */
export async function loadTokenizer(path: string): Promise<Tokenizer> {
  return new Tokenizer(await loadVocabulary(path));
}
