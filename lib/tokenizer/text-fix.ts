import { unescapeHtml } from "./html-unescape.js";
import { CP1252_OF_BYTE, fixMojibake } from "./mojibake.js";
import { fixCyrillicMojibake } from "./mojibake-cyrillic.js";

/**
 * The subset of ftfy.fix_text (ftfy 6, default settings) that the reference CLIP tokenizer relies on.
 * Implemented: HTML entity decoding (skipped, like ftfy's "auto" mode, from the first line holding '<'
 * onwards), Latin-1/Windows-1252 and Windows-1251 mojibake repair, C1 controls read as Windows-1252,
 * Latin ligatures, full-/half-width forms, curly quotes, line breaks, lone surrogates, terminal
 * escapes, control characters, NFC; every line is fixed repeatedly until it stops changing, as ftfy does.
 */

const C1_RE = /[\u0080-\u009f]/g;
const LIGATURES: Readonly<Record<string, string>> = {
  "\u0132": "IJ",
  "\u0133": "ij",
  "\u0149": "\u02bcn",
  "\u01f1": "DZ",
  "\u01f2": "Dz",
  "\u01f3": "dz",
  "\u01c4": "D\u017d",
  "\u01c5": "D\u017e",
  "\u01c6": "d\u017e",
  "\u01c7": "LJ",
  "\u01c8": "Lj",
  "\u01c9": "lj",
  "\u01ca": "NJ",
  "\u01cb": "Nj",
  "\u01cc": "nj",
  "\ufb00": "ff",
  "\ufb01": "fi",
  "\ufb02": "fl",
  "\ufb03": "ffi",
  "\ufb04": "ffl",
  "\ufb05": "\u017ft",
  "\ufb06": "st",
};
const LIGATURE_RE = /[\u0132\u0133\u0149\u01c4-\u01cc\u01f1-\u01f3\ufb00-\ufb06]/g;
const WIDTH_RE = /[\u3000\uff01-\uffef]/g;
const SINGLE_QUOTE_RE = /[\u02bc\u2018-\u201b]/g;
const DOUBLE_QUOTE_RE = /[\u201c-\u201f]/g;
const LINE_BREAK_RE = /\r\n|[\r\u2028\u2029\u0085]/g;
const LONE_SURROGATE_RE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching ESC is the point
const TERMINAL_ESCAPE_RE = /\u001b\[(?:\p{Nd}|;)*[a-zA-Z]/gu;
// biome-ignore lint/suspicious/noControlCharactersInRegex: removing control characters is the point
const CONTROL_RE = /[\u0000-\u0008\u000b\u000e-\u001f\u007f\u206a-\u206f\ufeff\ufff9-\ufffc]/g;

function fixC1(text: string): string {
  return text.replace(C1_RE, (c) => String.fromCharCode(CP1252_OF_BYTE.get(c.charCodeAt(0)) ?? c.charCodeAt(0)));
}

function fixWidth(text: string): string {
  return text.replace(WIDTH_RE, (c) => (c === "\u3000" ? " " : c.normalize("NFKC")));
}

/** One pass of every fixer, in ftfy's order. */
function fixOnce(text: string, decodeEntities: boolean): string {
  let t = decodeEntities ? unescapeHtml(text) : text;
  t = fixCyrillicMojibake(fixMojibake(t));
  t = fixC1(t);
  t = t.replace(LIGATURE_RE, (c) => LIGATURES[c] ?? c);
  t = fixWidth(t);
  t = t.replace(SINGLE_QUOTE_RE, "'").replace(DOUBLE_QUOTE_RE, '"');
  t = t.replace(LINE_BREAK_RE, "\n");
  t = t.replace(LONE_SURROGATE_RE, "\ufffd");
  t = t.replace(TERMINAL_ESCAPE_RE, "");
  t = t.replace(CONTROL_RE, "");
  return t.normalize("NFC");
}

// Every fixer shortens the text or reaches a fixed point within a few passes; the cap only guards termination.
const MAX_PASSES = 64;

function fixSegment(segment: string, decodeEntities: boolean): string {
  let text = segment;
  for (let pass = 0; pass < MAX_PASSES; pass++) {
    const next = fixOnce(text, decodeEntities);
    if (next === text) break;
    text = next;
  }
  return text;
}

export function fixText(text: string): string {
  let out = "";
  let decodeEntities = true;
  let pos = 0;
  while (pos < text.length) {
    const nl = text.indexOf("\n", pos);
    const end = nl < 0 ? text.length : nl + 1;
    const segment = text.slice(pos, end);
    // ftfy turns HTML unescaping off for good once a line contains '<' (looks like real HTML).
    if (segment.includes("<")) decodeEntities = false;
    out += fixSegment(segment, decodeEntities);
    pos = end;
  }
  return out;
}
