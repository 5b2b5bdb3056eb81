/**
 * A1111-style attention syntax: "(x)" x1.1, "[x]" /1.1, "(x:w)" xw, nesting multiplies, "\(" "\)" "\["
 * "\]" "\\" are literal characters, unmatched closers are literal text, brackets still open at the end
 * apply to everything after them, and "BREAK" (a whole word, capitals) ends the current 75-token chunk.
 * Never throws.
 */

export type PromptPart = { kind: "text"; text: string; weight: number } | { kind: "break" };

export const ROUND_MULTIPLIER = 1.1;
export const SQUARE_MULTIPLIER = 1 / 1.1;

// Escapes, a lone backslash, openers, ":weight)" closers, plain closers, text runs, a lone ':'.
const TOKEN_RE = /\\\(|\\\)|\\\[|\\\]|\\\\|\\|\(|\[|:\s*([+-]?[.\d]+)\s*\)|\)|\]|[^\\()[\]:]+|:/g;
const BREAK_RE = /\s*\bBREAK\b\s*/;

export function parseAttention(prompt: string): PromptPart[] {
  const parts: PromptPart[] = [];
  const round: number[] = [];
  const square: number[] = [];
  const multiplyFrom = (start: number, factor: number): void => {
    for (let i = start; i < parts.length; i++) {
      const p = parts[i] as PromptPart;
      if (p.kind === "text") p.weight *= factor;
    }
  };
  for (const match of prompt.matchAll(TOKEN_RE)) {
    const token = match[0];
    const explicit = match[1] === undefined ? Number.NaN : Number(match[1]);
    if (token.startsWith("\\")) {
      // "\(" -> "(", "\\" -> "\"; a backslash before anything else is dropped (as A1111 does).
      parts.push({ kind: "text", text: token.slice(1), weight: 1 });
    } else if (token === "(") {
      round.push(parts.length);
    } else if (token === "[") {
      square.push(parts.length);
    } else if (match[1] !== undefined && round.length > 0 && Number.isFinite(explicit)) {
      multiplyFrom(round.pop() as number, explicit);
    } else if (token === ")" && round.length > 0) {
      multiplyFrom(round.pop() as number, ROUND_MULTIPLIER);
    } else if (token === "]" && square.length > 0) {
      multiplyFrom(square.pop() as number, SQUARE_MULTIPLIER);
    } else {
      token.split(BREAK_RE).forEach((text, i) => {
        if (i > 0) parts.push({ kind: "break" });
        parts.push({ kind: "text", text, weight: 1 });
      });
    }
  }
  for (const start of round) multiplyFrom(start, ROUND_MULTIPLIER);
  for (const start of square) multiplyFrom(start, SQUARE_MULTIPLIER);
  return mergeEqualWeights(parts);
}

/** Joins neighbouring text parts of equal weight (so "a" "b" tokenize as "ab", like A1111) and drops empty ones. */
function mergeEqualWeights(parts: PromptPart[]): PromptPart[] {
  const out: PromptPart[] = [];
  for (const p of parts) {
    const last = out[out.length - 1];
    if (p.kind === "text" && last?.kind === "text" && last.weight === p.weight) last.text += p.text;
    else out.push(p);
  }
  return out.filter((p) => p.kind === "break" || p.text.length > 0);
}
