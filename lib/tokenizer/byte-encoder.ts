/**
 * CLIP's byte-level alphabet: every byte 0-255 gets a printable stand-in character so that BPE works
 * on strings. Printable Latin-1 bytes map to themselves; the rest map to U+0100 upwards in byte order.
 * The array order (printable bytes first) is also the order of the first 256 vocabulary entries.
 */
function buildByteAlphabet(): { order: number[]; charOf: string[] } {
  const printable: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) printable.push(b);
  for (let b = 0xa1; b <= 0xac; b++) printable.push(b);
  for (let b = 0xae; b <= 0xff; b++) printable.push(b);
  const charOf: string[] = new Array(256);
  for (const b of printable) charOf[b] = String.fromCharCode(b);
  const order = [...printable];
  let next = 0;
  for (let b = 0; b < 256; b++) {
    if (charOf[b] !== undefined) continue;
    charOf[b] = String.fromCharCode(256 + next++);
    order.push(b);
  }
  return { order, charOf };
}

const alphabet = buildByteAlphabet();

/** Byte value -> its stand-in character. */
export const BYTE_CHAR: readonly string[] = alphabet.charOf;

/** Stand-in characters in vocabulary order (ids 0-255). */
export const BYTE_CHARS_IN_VOCAB_ORDER: readonly string[] = alphabet.order.map((b) => alphabet.charOf[b] as string);

/** Stand-in character code -> byte value. */
export const BYTE_OF_CHAR: ReadonlyMap<number, number> = new Map(
  alphabet.charOf.map((c, b) => [c.charCodeAt(0), b] as [number, number]),
);
