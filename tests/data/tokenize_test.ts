import fc from "fast-check";
import { assert, assertEquals, assertThrows } from "@std/assert";
import {
  BOS_ID,
  buildVocab,
  EOS_ID,
  PAD_ID,
  SPECIALS,
  tokenizerFromJSON,
  trainBpe,
  trainCharTokenizer,
  trainWordTokenizer,
  UNK_ID,
  Vocab,
  VocabTokenizer,
} from "../../data/mod.ts";

const CHARS = [
  "a",
  "b",
  "e",
  "n",
  "A",
  "Ä",
  "ß",
  "é",
  "e\u0301",
  " ",
  "  ",
  "\t",
  "\n",
  ",",
  ".",
  "!",
  "'",
  "-",
  "1",
  "😀",
  "日",
  "\u00a0",
];
const text = fc.string({ unit: fc.constantFrom(...CHARS), maxLength: 30 });
const corpus = fc.array(text, { minLength: 1, maxLength: 12 });

Deno.test("decode(encode(x)) == normalise(x) for the word, character and BPE tokenisers", () => {
  fc.assert(
    fc.property(
      corpus,
      fc.boolean(),
      fc.integer({ min: 4, max: 200 }),
      (texts, lower, vocabSize) => {
        const toks = [
          trainWordTokenizer(texts, { lower }),
          trainCharTokenizer(texts, { lower }),
          trainBpe(texts, {
            lower,
            vocabSize: Math.max(vocabSize, 80),
            minPairFreq: 1,
          }),
        ];
        for (const tok of toks) {
          for (const x of texts) {
            assertEquals(
              tok.decode(tok.encode(x, { bos: true, eos: true })),
              tok.normalize(x),
              tok.kind,
            );
            const again = tokenizerFromJSON(JSON.stringify(tok));
            assertEquals(again.encode(x), tok.encode(x));
          }
        }
      },
    ),
    { numRuns: 150 },
  );
});

Deno.test("normalize() applies NFC, lower-casing and whitespace collapsing", () => {
  const tok = trainWordTokenizer([], { lower: true });
  assertEquals(tok.normalize("  Gru\u0308SSE\t\nDIR  "), "grüsse dir");
  assertEquals(tok.normalize("e\u0301"), "\u00e9");
});

Deno.test("BPE never produces an id outside the vocabulary", () => {
  fc.assert(
    fc.property(
      corpus,
      fc.array(fc.string({ maxLength: 20 }), { maxLength: 5 }),
      fc.integer({ min: 4, max: 120 }),
      (texts, probes, vocabSize) => {
        const bpe = trainBpe(texts, { vocabSize });
        assert(bpe.vocab.size <= vocabSize);
        for (const x of [...texts, ...probes]) {
          for (const id of bpe.encode(x, { bos: true, eos: true })) {
            assert(Number.isInteger(id) && id >= 0 && id < bpe.vocab.size);
          }
        }
      },
    ),
    { numRuns: 150 },
  );
});

Deno.test("trainBpe() reaches the chosen vocabulary size and learns frequent words", () => {
  const texts = Array.from(
    { length: 50 },
    (_, i) => `the lower newest widest ${i % 7}`,
  );
  const bpe = trainBpe(texts, { vocabSize: 40 });
  assertEquals(bpe.vocab.size, 40);
  assertEquals(bpe.tokenize("the")[0], " the");
  assertEquals(trainBpe(texts, { vocabSize: 40 }).merges, bpe.merges); // deterministic
  assertThrows(() => trainBpe(texts, { vocabSize: 3 }), RangeError);
});

Deno.test("BPE maps unknown characters to <unk> and decodes them as U+FFFD", () => {
  const bpe = trainBpe(["aaa bbb"], { vocabSize: 20 });
  const ids = bpe.encode("aqa");
  assert(ids.includes(UNK_ID));
  assertEquals(bpe.decode(ids), "a\ufffda");
});

Deno.test("word tokeniser splits punctuation, keeps Unicode words and marks spaces", () => {
  const tok = trainWordTokenizer(["Grüß Gott, Straße!", "Don't."]);
  assertEquals(tok.tokenize("Grüß Gott, Straße!"), [
    " Grüß",
    " Gott",
    ",",
    " Straße",
    "!",
  ]);
  assertEquals(tok.tokenize("Don't."), [" Don", "'", "t", "."]);
  assertEquals(tok.decode(tok.encode("Grüß unknown")), "Grüß <unk>");
});

Deno.test("vocabularies have <pad>=0, <unk>, <bos>, <eos> and honour minFreq and maxSize", () => {
  assertEquals(SPECIALS, ["<pad>", "<unk>", "<bos>", "<eos>"]);
  assertEquals([PAD_ID, UNK_ID, BOS_ID, EOS_ID], [0, 1, 2, 3]);
  const seqs = [["a", "a", "a", "b", "b", "c"], ["<pad>", "d"]];
  assertEquals(buildVocab(seqs).tokens.slice(4), ["a", "b", "c", "d"]);
  assertEquals(buildVocab(seqs, { minFreq: 2 }).tokens.slice(4), ["a", "b"]);
  assertEquals(buildVocab(seqs, { maxSize: 5 }).tokens.slice(4), ["a"]);
  assertThrows(() => buildVocab(seqs, { maxSize: 3 }), RangeError);
  assertThrows(() => buildVocab(seqs, { minFreq: 0 }), RangeError);
  assertThrows(() => new Vocab(["<pad>", "<unk>", "<bos>"]), TypeError);
  assertThrows(
    () => new Vocab([...SPECIALS, "x", "x"]),
    TypeError,
    "duplicate",
  );
  assertThrows(() => buildVocab(seqs).token(99), RangeError);
});

Deno.test("minFreq and maxSize limit the word tokeniser; rare words become <unk>", () => {
  const tok = trainWordTokenizer(["a a a b b c"], { minFreq: 2 });
  assertEquals([...tok.encode("a b c")].map((id) => tok.vocab.token(id)), [
    " a",
    " b",
    "<unk>",
  ]);
  const small = trainWordTokenizer(["a a a b b c"], { maxSize: 5 });
  assertEquals(small.vocab.size, 5);
});

Deno.test("tokenizerFromJSON() rejects malformed JSON with a clear message", () => {
  const good = trainBpe(["ab ab"], { vocabSize: 12 }).toJSON();
  assertThrows(() => tokenizerFromJSON("{"), TypeError, "invalid JSON");
  assertThrows(
    () => tokenizerFromJSON({ ...good, format: "x" } as never),
    TypeError,
    "format",
  );
  assertThrows(
    () => tokenizerFromJSON({ ...good, kind: "sentencepiece" } as never),
    TypeError,
    "unknown kind",
  );
  assertThrows(
    () => tokenizerFromJSON({ ...good, merges: [["zz", "q"]] }),
    TypeError,
    "not in the vocabulary",
  );
  assertThrows(
    () => tokenizerFromJSON({ ...good, vocab: ["a"] }),
    TypeError,
    "<pad>",
  );
});

Deno.test("word, char and BPE tokenisers share one base and one JSON form", () => {
  const texts = ["Hallo Welt!", "hallo du"];
  const toks = [
    trainWordTokenizer(texts, { lower: true }),
    trainCharTokenizer(texts, { lower: true }),
    trainBpe(texts, { vocabSize: 30, lower: true }),
  ];
  for (const tok of toks) {
    assert(tok instanceof VocabTokenizer, tok.kind);
    const json = JSON.parse(JSON.stringify(tok));
    assertEquals(
      Object.keys(json),
      ["format", "version", "kind", "lower", "form", "vocab"].concat(
        tok.kind === "bpe" ? ["merges"] : [],
      ),
    );
    const back = tokenizerFromJSON(json);
    assertEquals(back.encode("Hallo!"), tok.encode("Hallo!"));
    // <unk>, <bos> and <eos> are handled once, in the base.
    const ids = tok.encode("hallo \u{1F600}", { bos: true, eos: true });
    assertEquals([ids[0], ids[ids.length - 1]], [BOS_ID, EOS_ID]);
    assert(ids.includes(UNK_ID), tok.kind);
  }
});
