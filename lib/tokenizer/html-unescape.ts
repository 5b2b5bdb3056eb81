import { NAMED_ENTITIES, UPPERCASE_NAMED } from "./html-entities.js";

// Only complete references that end in ';' are decoded, so informal text like "this&not that" stays.
const ENTITY_RE = /&#?[0-9A-Za-z]{1,24};/g;

/** HTML's table for numeric references to CR and 0x80-0x9F (mostly the Windows-1252 characters). */
const C1_REFS: Readonly<Record<number, number>> = {
  13: 0x0d,
  128: 0x20ac,
  129: 0x81,
  141: 0x8d,
  143: 0x8f,
  144: 0x90,
  157: 0x9d,
  130: 0x201a,
  131: 0x0192,
  132: 0x201e,
  133: 0x2026,
  134: 0x2020,
  135: 0x2021,
  136: 0x02c6,
  137: 0x2030,
  138: 0x0160,
  139: 0x2039,
  140: 0x0152,
  142: 0x017d,
  145: 0x2018,
  146: 0x2019,
  147: 0x201c,
  148: 0x201d,
  149: 0x2022,
  150: 0x2013,
  151: 0x2014,
  152: 0x02dc,
  153: 0x2122,
  154: 0x0161,
  155: 0x203a,
  156: 0x0153,
  158: 0x017e,
  159: 0x0178,
};

/** Code points HTML drops from numeric references: controls, noncharacters. */
function isDroppedCodePoint(cp: number): boolean {
  if ((cp >= 0x1 && cp <= 0x8) || cp === 0xb || (cp >= 0xe && cp <= 0x1f) || (cp >= 0x7f && cp <= 0x9f)) return true;
  if (cp >= 0xfdd0 && cp <= 0xfdef) return true;
  return (cp & 0xfffe) === 0xfffe;
}

function decodeNumeric(ref: string): string | undefined {
  const body = ref.slice(2, -1);
  const m = /^(?:[xX]([0-9A-Fa-f]+)|([0-9]+))$/.exec(body);
  if (!m) return undefined;
  const cp = m[1] !== undefined ? Number.parseInt(m[1], 16) : Number.parseInt(m[2] as string, 10);
  const c1 = C1_REFS[cp];
  if (c1 !== undefined) return String.fromCodePoint(c1);
  if (cp === 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return "\ufffd";
  if (isDroppedCodePoint(cp)) return "";
  return String.fromCodePoint(cp);
}

function decodeOne(ref: string): string {
  const name = ref.slice(1, -1);
  const named = Object.hasOwn(NAMED_ENTITIES, name) ? NAMED_ENTITIES[name] : undefined;
  if (named !== undefined) return named;
  const upper = Object.hasOwn(UPPERCASE_NAMED, name) ? UPPERCASE_NAMED[name] : undefined;
  if (upper !== undefined) return upper;
  if (!ref.startsWith("&#")) return ref;
  const decoded = decodeNumeric(ref);
  // A reference that would produce ';' (or does not parse) is left as written, as ftfy does.
  if (decoded === undefined || decoded.includes(";")) return ref;
  return decoded;
}

/** ftfy's conservative HTML unescape: named (plus all-caps Latin) and numeric references ending in ';'. */
export function unescapeHtml(text: string): string {
  if (!text.includes("&")) return text;
  return text.replace(ENTITY_RE, decodeOne);
}
