/**
 * Repairs UTF-8 text that was decoded as Latin-1 / Windows-1252 ("cafÃ©" -> "café"), the mojibake
 * ftfy fixes most often. Each run of characters whose Windows-1252 (or Latin-1) bytes form a complete,
 * valid multi-byte UTF-8 sequence is decoded; a sequence whose continuation bytes were lost to U+FFFD
 * becomes one U+FFFD ("â€�" -> "�"); "Ã" + space is read as "à" (its second byte, A0, was taken for a
 * space); an accented capital followed by common punctuation is kept (see isPlausibleText).
 * Everything else is left alone. This is a subset of ftfy.fix_encoding: other single-byte codecs
 * (1250/1251/MacRoman/...) and its badness heuristic are not implemented, so a lone sequence ftfy
 * judges harmless (e.g. "Ã¥" next to text that is not mojibake) is still repaired here.
 */

/** Windows-1252 characters in 0x80-0x9F, by code point -> byte. */
const CP1252_BYTE: ReadonlyMap<number, number> = new Map([
  [0x20ac, 0x80],
  [0x201a, 0x82],
  [0x0192, 0x83],
  [0x201e, 0x84],
  [0x2026, 0x85],
  [0x2020, 0x86],
  [0x2021, 0x87],
  [0x02c6, 0x88],
  [0x2030, 0x89],
  [0x0160, 0x8a],
  [0x2039, 0x8b],
  [0x0152, 0x8c],
  [0x017d, 0x8e],
  [0x2018, 0x91],
  [0x2019, 0x92],
  [0x201c, 0x93],
  [0x201d, 0x94],
  [0x2022, 0x95],
  [0x2013, 0x96],
  [0x2014, 0x97],
  [0x02dc, 0x98],
  [0x2122, 0x99],
  [0x0161, 0x9a],
  [0x203a, 0x9b],
  [0x0153, 0x9c],
  [0x017e, 0x9e],
  [0x0178, 0x9f],
]);

/** Byte 0x80-0x9F from Windows-1252, for C1 controls (what browsers do). */
export const CP1252_OF_BYTE: ReadonlyMap<number, number> = new Map([...CP1252_BYTE].map(([cp, b]) => [b, cp]));

/** The single byte a character would have been, or -1. */
function byteOf(code: number): number {
  if (code < 0x100 || code === REPLACEMENT) return code;
  return CP1252_BYTE.get(code) ?? -1;
}

/** Length of the UTF-8 sequence a lead byte starts (2-4), or 0. Overlong/surrogate checks come later. */
function sequenceLength(lead: number): number {
  if (lead >= 0xc2 && lead <= 0xdf) return 2;
  if (lead >= 0xe0 && lead <= 0xef) return 3;
  if (lead >= 0xf0 && lead <= 0xf4) return 4;
  return 0;
}

/** Decodes one complete sequence strictly; undefined when it is not valid UTF-8. */
function decodeSequence(bytes: number[]): string | undefined {
  const [b0, b1] = bytes as [number, number];
  for (let i = 1; i < bytes.length; i++) {
    const b = bytes[i] as number;
    if (b < 0x80 || b > 0xbf) return undefined;
  }
  if (b0 === 0xe0 && b1 < 0xa0) return undefined; // overlong
  if (b0 === 0xed && b1 >= 0xa0) return undefined; // surrogate
  if (b0 === 0xf0 && b1 < 0x90) return undefined; // overlong
  if (b0 === 0xf4 && b1 >= 0x90) return undefined; // > U+10FFFF
  let cp = b0 & (0x7f >> bytes.length);
  for (let i = 1; i < bytes.length; i++) cp = (cp << 6) | ((bytes[i] as number) & 0x3f);
  return String.fromCodePoint(cp);
}

// Fast reject: mojibake needs a lead byte character (U+00C2-U+00F4).
const LEAD_RE = /[\u00c2-\u00f4]/;
const REPLACEMENT = 0xfffd;
// "Ã" + space is "à" whose A0 byte became a space; before these Portuguese words the space was the A0 itself.
const A_GRAVE_SPACE_RE = /\u00c3 (?=(?: |quele|quela|quilo|s ))/g;
const A_GRAVE_WORD_RE = /\u00c3 /g;

/**
 * Punctuation that legitimately follows an accented capital ("CAFÉ…", "É—"): a two-character sequence
 * ending in one of these is left alone. After "Â"/"Ã", the leads real mojibake nearly always has, only
 * "…" and "’" are (as ftfy does: "Ã…" stays, "Ã–" -> "Ö").
 */
const COMMON_CONTINUATION = new Set([0xa0, 0xad, 0xb7, 0xb4, 0x2013, 0x2014, 0x2026, 0x2019, 0x2022]);
const AMBIGUOUS_AFTER_A = new Set([0x2026, 0x2019]);

function isPlausibleText(text: string, at: number, n: number): boolean {
  if (n !== 2) return false;
  const lead = text.charCodeAt(at);
  const next = text.charCodeAt(at + 1);
  return lead === 0xc2 || lead === 0xc3 ? AMBIGUOUS_AFTER_A.has(next) : COMMON_CONTINUATION.has(next);
}

/** True when `bytes` is a lead followed by continuation bytes or lost ones (U+FFFD), with at least one lost. */
function isLossySequence(bytes: number[]): boolean {
  let lost = false;
  for (let i = 1; i < bytes.length; i++) {
    const b = bytes[i] as number;
    if (b === REPLACEMENT) lost = true;
    else if (b < 0x80 || b > 0xbf) return false;
  }
  return lost;
}

/** The repaired text of the sequence starting at `at` and its length, or undefined. */
function decodeAt(text: string, at: number): { decoded: string; n: number } | undefined {
  const n = sequenceLength(text.charCodeAt(at));
  if (n === 0 || at + n > text.length) return undefined;
  const bytes: number[] = [];
  for (let k = 0; k < n; k++) bytes.push(byteOf(text.charCodeAt(at + k)));
  if (bytes.includes(-1)) return undefined;
  const decoded = isLossySequence(bytes) ? "\ufffd" : decodeSequence(bytes);
  return decoded === undefined ? undefined : { decoded, n };
}

export function fixMojibake(input: string): string {
  if (!LEAD_RE.test(input)) return input;
  const text = input.replace(A_GRAVE_SPACE_RE, "\u00e0").replace(A_GRAVE_WORD_RE, "\u00e0 ");
  let out = "";
  let i = 0;
  let afterSequence = false;
  while (i < text.length) {
    const hit = decodeAt(text, i);
    // The plausible-text exception only holds for an isolated pair, not inside a run of mojibake ("ÐšÐ¸Ñ—Ð²").
    const isolated = !afterSequence && (hit === undefined || decodeAt(text, i + hit.n) === undefined);
    if (hit && !(isolated && isPlausibleText(text, i, hit.n))) {
      out += hit.decoded;
      i += hit.n;
      afterSequence = true;
    } else {
      out += text[i];
      i++;
      afterSequence = false;
    }
  }
  return out;
}
