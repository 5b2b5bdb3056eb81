/**
 * Repairs UTF-8 text that was decoded as Windows-1251 ("РїСЂРёРІРµС‚" -> "привет", "вЂ™" -> "’").
 * Ordinary Cyrillic text can contain a valid two-byte look-alike ("Сё" = D1 B8, "Ві" = C2 B3), so a
 * run is only decoded when it is at least two consecutive sequences or one of three or four bytes,
 * which real words essentially never form.
 */

/** Windows-1251 bytes 0x80-0xBF (0x98 is unassigned and passes through as U+0098). 0xC0-0xFF = U+0410-U+044F. */
const HIGH_HALF =
  "\u0402\u0403\u201a\u0453\u201e\u2026\u2020\u2021\u20ac\u2030\u0409\u2039\u040a\u040c\u040b\u040f" +
  "\u0452\u2018\u2019\u201c\u201d\u2022\u2013\u2014\u0098\u2122\u0459\u203a\u045a\u045c\u045b\u045f" +
  "\u00a0\u040e\u045e\u0408\u00a4\u0490\u00a6\u00a7\u0401\u00a9\u0404\u00ab\u00ac\u00ad\u00ae\u0407" +
  "\u00b0\u00b1\u0406\u0456\u0491\u00b5\u00b6\u00b7\u0451\u2116\u0454\u00bb\u0458\u0405\u0455\u0457";

const BYTE_OF: ReadonlyMap<number, number> = new Map([
  ...Array.from(HIGH_HALF, (c, i) => [c.charCodeAt(0), 0x80 + i] as [number, number]),
  ...Array.from({ length: 64 }, (_, i) => [0x410 + i, 0xc0 + i] as [number, number]),
]);

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });
// The lead bytes of multi-byte UTF-8 are 0xC2-0xF4, i.e. these characters in Windows-1251.
const CYRILLIC_LEAD_RE = /[\u0412-\u0434]/;

/** Length of the valid UTF-8 sequence (2-4) whose Windows-1251 bytes start at `at`, or 0. */
function sequenceAt(text: string, at: number): number {
  const lead = BYTE_OF.get(text.charCodeAt(at)) ?? 0;
  const n = lead >= 0xc2 && lead <= 0xdf ? 2 : lead >= 0xe0 && lead <= 0xef ? 3 : lead >= 0xf0 && lead <= 0xf4 ? 4 : 0;
  if (n === 0 || at + n > text.length) return 0;
  const bytes = new Uint8Array(n);
  bytes[0] = lead;
  for (let k = 1; k < n; k++) {
    const b = BYTE_OF.get(text.charCodeAt(at + k));
    if (b === undefined || b > 0xbf) return 0;
    bytes[k] = b;
  }
  try {
    strictUtf8.decode(bytes); // rejects overlong forms and surrogates
    return n;
  } catch {
    return 0;
  }
}

function decodeRun(run: string): string {
  return strictUtf8.decode(Uint8Array.from(run, (c) => BYTE_OF.get(c.charCodeAt(0)) as number));
}

export function fixCyrillicMojibake(text: string): string {
  if (!CYRILLIC_LEAD_RE.test(text)) return text;
  let out = "";
  let i = 0;
  while (i < text.length) {
    let end = i;
    let sequences = 0;
    let longest = 0;
    for (let n = sequenceAt(text, end); n > 0; n = sequenceAt(text, end)) {
      end += n;
      sequences++;
      longest = Math.max(longest, n);
    }
    if (sequences >= 2 || longest >= 3) {
      out += decodeRun(text.slice(i, end));
      i = end;
    } else {
      out += text[i];
      i++;
    }
  }
  return out;
}
