import { readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import {
  buildChunks,
  CHUNK_LENGTH,
  encodePrompt,
  encodePromptPair,
  extractLoras,
  PAD_OPENCLIP,
  PAD_SD1,
  parseAttention,
} from "../lib/prompt/index.js";
import { loadTokenizer, type Tokenizer } from "../lib/tokenizer/index.js";

const CLIP = join(import.meta.dirname, "..", "..", "shared", "clip");
const FIXTURE = join(import.meta.dirname, "..", "..", "shared", "fixtures", "tokenizer.json");
const sd1 = { padId: PAD_SD1 };

let tok: Tokenizer;
beforeAll(async () => {
  tok = await loadTokenizer(CLIP);
});

/** [text, weight] pairs, BREAK as ["BREAK", -1] (A1111's notation). */
function pairs(prompt: string): Array<[string, number]> {
  return parseAttention(prompt).map((p) => (p.kind === "break" ? ["BREAK", -1] : [p.text, p.weight]));
}

describe("parseAttention (A1111 rules)", () => {
  // The examples documented with A1111's parse_prompt_attention, with its results.
  it("matches A1111's documented examples", () => {
    expect(pairs("normal text")).toEqual([["normal text", 1]]);
    expect(pairs("an (important) word")).toEqual([
      ["an ", 1],
      ["important", 1.1],
      [" word", 1],
    ]);
    expect(pairs("(unbalanced")).toEqual([["unbalanced", 1.1]]);
    expect(pairs("\\(literal\\]")).toEqual([["(literal]", 1]]);
    expect(pairs("(unnecessary)(parens)")).toEqual([["unnecessaryparens", 1.1]]);
    expect(pairs("a (((house:1.3)) [on] a (hill:0.5), sun, (((sky))).")).toEqual([
      ["a ", 1],
      ["house", 1.5730000000000004],
      [" ", 1.1],
      ["on", 1],
      [" a ", 1.1],
      ["hill", 0.55],
      [", sun, ", 1.1],
      ["sky", 1.4641000000000006],
      [".", 1.1],
    ]);
  });

  it("weights a (b:1.5) [c]", () => {
    expect(pairs("a (b:1.5) [c]")).toEqual([
      ["a ", 1],
      ["b", 1.5],
      [" ", 1],
      ["c", 1 / 1.1],
    ]);
  });

  it("multiplies nested brackets", () => {
    expect(pairs("((a))")).toEqual([["a", 1.1 * 1.1]]);
    expect(pairs("[[a]]")).toEqual([["a", 1 / 1.1 / 1.1]]);
    expect(pairs("((a:2):1.5)")).toEqual([["a", 3]]);
  });

  it("keeps unmatched closers and bad weights as text", () => {
    expect(pairs("a) b]")).toEqual([["a) b]", 1]]);
    expect(pairs("x:1.5)")).toEqual([["x:1.5)", 1]]);
    expect(pairs("(a:.)")).toEqual([["a:.)", 1.1]]);
    expect(pairs("\\\\ \\x")).toEqual([["\\ x", 1]]);
  });

  it("splits on BREAK, also inside brackets", () => {
    expect(pairs("a BREAK b")).toEqual([
      ["a", 1],
      ["BREAK", -1],
      ["b", 1],
    ]);
    expect(pairs("(a BREAK b)")).toEqual([
      ["a", 1.1],
      ["BREAK", -1],
      ["b", 1.1],
    ]);
    expect(pairs("BREAKFAST break")).toEqual([["BREAKFAST break", 1]]);
  });
});

describe("extractLoras", () => {
  it("removes extra-network tags and returns the LoRAs", () => {
    expect(extractLoras("<lora:add_detail:0.75>, 1girl")).toEqual({
      text: ", 1girl",
      loras: [{ name: "add_detail", scale: 0.75 }],
    });
    expect(extractLoras("a <lora:x> b <lyco:y:-0.5:0.2> <hypernet:h:1>c")).toEqual({
      text: "a  b  c",
      loras: [
        { name: "x", scale: 1 },
        { name: "y", scale: -0.5 },
      ],
    });
    expect(extractLoras("<lora:x:abc>")).toEqual({ text: "<lora:x:abc>", loras: [] });
  });
});

describe("encodePrompt", () => {
  const words = (n: number): string => new Array(n).fill("a").join(" ");

  it("(a:1) encodes exactly like a", () => {
    expect(encodePrompt("(a:1)", tok, sd1)).toEqual(encodePrompt("a", tok, sd1));
    expect(encodePrompt("a photo of (a cat:1.0)", tok, sd1)).toEqual(encodePrompt("a photo of a cat", tok, sd1));
  });

  it("puts 75 tokens in one chunk and 76 in two", () => {
    expect(tok.encode(words(75))).toHaveLength(77);
    const one = encodePrompt(words(75), tok, sd1).chunks;
    expect(one).toHaveLength(1);
    expect(one[0]?.ids).toEqual([49406, ...new Array(75).fill(320), 49407]);
    const two = encodePrompt(words(76), tok, { padId: PAD_OPENCLIP }).chunks;
    expect(two).toHaveLength(2);
    expect(two[1]?.ids).toEqual([49406, 320, 49407, ...new Array(74).fill(0)]);
  });

  it("turns escapes into literal brackets with weight 1", () => {
    const { chunks } = encodePrompt("\\(cat\\) \\[dog\\]", tok, sd1);
    const ids = tok.encode("(cat) [dog]");
    expect(chunks[0]?.ids.slice(0, ids.length)).toEqual(ids);
    expect(chunks[0]?.weights).toEqual(new Array(CHUNK_LENGTH).fill(1));
  });

  it("gives each token its part's weight and 1 to BOS, EOS and padding", () => {
    const { chunks } = encodePrompt("a (red:1.5) [cat]", tok, sd1);
    const c = chunks[0];
    expect(c?.ids.slice(0, 5)).toEqual([49406, 320, 736, 2368, 49407]);
    expect(c?.weights.slice(0, 5)).toEqual([1, 1, 1.5, 1 / 1.1, 1]);
    expect(c?.weights.slice(5)).toEqual(new Array(72).fill(1));
  });

  it("starts a new chunk at BREAK", () => {
    const { chunks } = encodePrompt("a castle BREAK a dragon", tok, sd1);
    expect(chunks.map((c) => tok.decode(c.ids))).toEqual(["a castle", "a dragon"]);
    expect(encodePrompt("BREAK a", tok, sd1).chunks.map((c) => tok.decode(c.ids))).toEqual(["", "a"]);
  });

  it("returns LoRA tags without tokenizing them", () => {
    const out = encodePrompt("<lora:add_detail:0.75>, 1girl", tok, sd1);
    expect(out.loras).toEqual([{ name: "add_detail", scale: 0.75 }]);
    expect(out.chunks).toEqual(encodePrompt(", 1girl", tok, sd1).chunks);
  });

  it("matches the reference 77-token ids for prompts without syntax characters", () => {
    interface Case {
      text: string;
      ids: number[];
      ids_sd1_77: number[];
      ids_sd2_77: number[];
    }
    const cases: Case[] = JSON.parse(readFileSync(FIXTURE, "utf8")).cases;
    const plain = cases.filter((c) => !/[()[\]\\:<>]|BREAK/.test(c.text) && !c.text.includes("\u2028"));
    expect(plain.length).toBeGreaterThan(100);
    for (const c of plain) {
      // The reference truncates to the first chunk; chunking keeps the rest in further chunks.
      expect(encodePrompt(c.text, tok, { padId: PAD_SD1 }).chunks[0]?.ids).toEqual(c.ids_sd1_77);
      expect(encodePrompt(c.text, tok, { padId: PAD_OPENCLIP }).chunks[0]?.ids).toEqual(c.ids_sd2_77);
    }
  });

  it("pads the shorter of prompt and negative prompt with empty chunks", () => {
    const { positive, negative } = encodePromptPair(words(100), "blurry", tok, sd1);
    expect(positive.chunks).toHaveLength(2);
    expect(negative.chunks).toHaveLength(2);
    expect(negative.chunks[1]).toEqual(encodePrompt("", tok, sd1).chunks[0]);
    expect(negative.chunks[1]?.ids).toEqual([49406, 49407, ...new Array(75).fill(49407)]);
  });

  it("moves the words after a late comma to the next chunk with commaBacktrack", () => {
    const prompt = `${words(70)}, ${new Array(10).fill("b").join(" ")}`;
    const plain = buildChunks(parseAttention(prompt), tok, sd1);
    expect(plain.map((c) => c.ids.indexOf(49407) - 1)).toEqual([75, 6]);
    const backtracked = buildChunks(parseAttention(prompt), tok, { padId: PAD_SD1, commaBacktrack: 20 });
    expect(backtracked.map((c) => c.ids.indexOf(49407) - 1)).toEqual([71, 10]);
  });
});

describe("prompt parsing never throws", () => {
  // Deterministic PRNG so a failure is reproducible.
  let seed = 12345;
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  const alphabet = [
    "(",
    ")",
    "[",
    "]",
    "\\",
    ":",
    "1.5",
    ".",
    "-",
    " ",
    "a",
    "cat",
    "BREAK",
    "<lora:x:",
    ">",
    "猫",
    "🐱",
    ",",
    "0",
  ];

  it("handles 2000 random strings", () => {
    for (let n = 0; n < 2000; n++) {
      let s = "";
      const len = rand(40);
      for (let i = 0; i < len; i++) {
        // Mostly syntax pieces, sometimes any UTF-16 code unit (lone surrogates and controls included).
        s += rand(8) === 0 ? String.fromCharCode(rand(0x10000)) : alphabet[rand(alphabet.length)];
      }
      const out = encodePrompt(s, tok, sd1);
      expect(out.chunks.length).toBeGreaterThan(0);
      for (const c of out.chunks) {
        expect(c.ids).toHaveLength(CHUNK_LENGTH);
        expect(c.weights).toHaveLength(CHUNK_LENGTH);
        expect(c.ids[0]).toBe(49406);
        expect(c.ids.indexOf(49407)).toBeGreaterThan(0);
      }
    }
  });
});
