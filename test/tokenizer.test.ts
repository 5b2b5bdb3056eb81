import { readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { beforeAll, describe, expect, it } from "vitest";
import { cleanText, loadTokenizer, type Tokenizer } from "../lib/tokenizer/index.js";

const CLIP = join(import.meta.dirname, "..", "..", "shared", "clip");
const FIXTURE = join(import.meta.dirname, "..", "..", "shared", "fixtures", "tokenizer.json");

interface Case {
  id: string;
  category: string;
  text: string;
  normalized: string;
  ids: number[];
}
const cases: Case[] = JSON.parse(readFileSync(FIXTURE, "utf8")).cases;

describe("CLIP tokenizer against the reference ids", () => {
  const sources = {
    gz: join(CLIP, "bpe_simple_vocab_16e6.txt.gz"),
    "vocab.json": join(CLIP, "vocab.json"),
    folder: CLIP,
  };
  for (const [name, path] of Object.entries(sources)) {
    it(`every fixture prompt matches (${name})`, async () => {
      const tok = await loadTokenizer(path);
      expect(tok.vocabSize).toBe(49408);
      expect([tok.bos, tok.eos]).toEqual([49406, 49407]);
      const mismatches = cases
        .filter((c) => JSON.stringify(tok.encode(c.text)) !== JSON.stringify(c.ids))
        .map((c) => `${c.id} ${JSON.stringify(c.text)}`);
      expect(mismatches).toEqual([]);
      expect(cases.length).toBeGreaterThan(150);
    });
  }
});

describe("Tokenizer", () => {
  let tok: Tokenizer;
  beforeAll(async () => {
    tok = await loadTokenizer(join(CLIP, "bpe_simple_vocab_16e6.txt.gz"));
  });

  it("encodes the empty string as BOS EOS", () => {
    expect(tok.encode("")).toEqual([49406, 49407]);
  });

  it("decodes prompts of words back to their cleaned text", () => {
    // Punctuation decodes as its own word ("beard ,"), so only letter-and-space prompts round-trip exactly.
    const words = cases.filter((x) => /^[a-z ]+$/.test(x.normalized));
    expect(words.length).toBeGreaterThan(20);
    for (const c of words) {
      expect(tok.decode(c.ids)).toBe(c.normalized);
    }
  });

  it("decodes multi-byte characters split across tokens", () => {
    expect(tok.decode(tok.encode("a cat 猫 in tokyo 東京 🐱"))).toBe("a cat 猫 in tokyo 東京 🐱");
  });

  it("gives the same ids when the cache is warm", () => {
    const text = "a photograph of an astronaut riding a horse";
    expect(tok.encode(text)).toEqual(tok.encode(text));
  });

  it("rejects missing and malformed vocabularies with typed errors", async () => {
    await expect(loadTokenizer(join(CLIP, "nope.txt.gz"))).rejects.toMatchObject({ code: "ERR_TOKENIZER_NOT_FOUND" });
    const dir = await mkdtemp(join(tmpdir(), "sd-tok-"));
    try {
      await expect(loadTokenizer(dir)).rejects.toMatchObject({ code: "ERR_TOKENIZER_NOT_FOUND" });
      await writeFile(join(dir, "bad.txt.gz"), "not gzip");
      await expect(loadTokenizer(join(dir, "bad.txt.gz"))).rejects.toMatchObject({ code: "ERR_MODEL_FORMAT" });
      await writeFile(join(dir, "short.txt.gz"), gzipSync("#header\na b\n"));
      await expect(loadTokenizer(join(dir, "short.txt.gz"))).rejects.toMatchObject({ code: "ERR_MODEL_FORMAT" });
      await writeFile(join(dir, "vocab.json"), "[1,2]");
      await writeFile(join(dir, "merges.txt"), "#version: 0.2\n");
      await expect(loadTokenizer(join(dir, "vocab.json"))).rejects.toMatchObject({ code: "ERR_MODEL_FORMAT" });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("cleanText (ftfy subset + whitespace + lower-case)", () => {
  it("gives the reference's normalized text for every fixture prompt", () => {
    // Prompts holding literal special tokens are cleaned piecewise by encode(), not as a whole.
    const whole = cases.filter((c) => !c.text.includes("<|"));
    expect(whole.filter((c) => cleanText(c.text) !== c.normalized).map((c) => c.id)).toEqual([]);
  });

  // Expected values are ftfy 6.3.1 fix_text outputs, whitespace-collapsed and lower-cased.
  const known: Array<[string, string]> = [
    ["ãƒ†ã‚¹ãƒˆ", "テスト"],
    ["Ã‰cole", "école"],
    ["itâ€™s", "it's"],
    ["voilÃ le", "voilà le"],
    ["Ã–sterreich", "österreich"],
    ["Ã…ngström", "ã…ngström"],
    ["CAFÉ…", "café…"],
    ["ÐšÐ¸Ñ—Ð²", "київ"],
    ["РїСЂРёРІРµС‚ РјРёСЂ", "привет мир"],
    ["вЂ™", "'"],
    ["Сёмга Від", "сёмга від"],
    ["CAFÉ’s", "café's"],
    ["Ã  la carte", "à la carte"],
    ["ðŸ˜€ emoji", "😀 emoji"],
    ["&EACUTE;t&EACUTE;", "été"],
    ["it&#x2019;s", "it's"],
    ["&#128;5", "€5"],
    ["&#59;", "&#59;"],
    ["this&not that", "this&not that"],
    ["<b>&amp;</b>", "<b>&amp;</b>"],
    ["&amp;\na<b", "& a<b"],
    ["a<b\n&amp;", "a<b &amp;"],
    ["Broken text&hellip; it&#x2019;s ﬂubberiﬁc!", "broken text… it's flubberific!"],
    ["ＬＯＵＤ　ＮＯＩＳＥＳ", "loud noises"],
    ["\u001b[36;44mblue\u001b[0m", "blue"],
    ["x\u0085y", "x…y"],
    ["e\u0301te\u0301", "été"],
    ["ﬁ ﬂ ĳ", "fi fl ij"],
    ["\ufeffbom", "bom"],
    ["soft\u00adhyphen", "soft\u00adhyphen"],
  ];
  for (const [input, expected] of known) {
    it(JSON.stringify(input), () => {
      expect(cleanText(input)).toBe(expected);
    });
  }

  it("replaces lone surrogates", () => {
    expect(cleanText("a\ud83d b")).toBe("a\ufffd b");
  });
});
