// Metric tests. Expected values come from (a) hand computation from the
// definitions, with the arithmetic in comments, and (b) values published by
// sacreBLEU's own test suite (test/test_bleu.py, test/test_chrf.py) and by the
// Hugging Face metric cards for sacrebleu and chrf, which run sacreBLEU.

import { assertAlmostEquals, assertEquals, assertThrows } from "@std/assert";
import fc from "fast-check";
import {
  accuracy,
  confusionMatrix,
  corpusBleu,
  corpusChrf,
  macroF1,
  tokenize13a,
} from "../../models/train/metrics.ts";
import { bleuFromStats } from "../../models/train/_metrics_bleu.ts";

// ---------------------------------------------------------------- classification

Deno.test("accuracy() counts exact matches", () => {
  assertEquals(accuracy([0, 1, 2, 2], [0, 1, 2, 1]), 0.75);
  assertEquals(accuracy(new Int32Array([3, 3]), [3, 3]), 1);
});

Deno.test("accuracy() rejects mismatched lengths, empty input and bad labels", () => {
  assertThrows(() => accuracy([0, 1], [0]), RangeError, "2 predictions but 1");
  assertThrows(() => accuracy([], []), RangeError, "no labels");
  assertThrows(() => accuracy([0.5], [0]), RangeError, "pred[0] = 0.5");
  assertThrows(() => accuracy([0], [-1]), RangeError, "gold[0] = -1");
});

Deno.test("confusionMatrix() has gold rows and predicted columns", () => {
  // pairs (gold, pred): (0,0) (1,0) (1,1) (1,1) (2,2) (0,2)
  const pred = [0, 0, 1, 1, 2, 2], gold = [0, 1, 1, 1, 2, 0];
  assertEquals(confusionMatrix(pred, gold), [[1, 0, 1], [1, 2, 0], [0, 0, 1]]);
  assertEquals(confusionMatrix([0], [0], 3), [[1, 0, 0], [0, 0, 0], [0, 0, 0]]);
  assertThrows(() => confusionMatrix([3], [0], 3), RangeError, "out of range");
});

Deno.test("macroF1() matches a hand computation", () => {
  // From the confusion matrix above, F1_c = 2TP / (2TP + FP + FN):
  //   class 0: TP 1, FP 1 (gold 1 → 0), FN 1 (gold 0 → 2) → 2/4   = 0.5
  //   class 1: TP 2, FP 0, FN 1 (gold 1 → 0)              → 4/5   = 0.8
  //   class 2: TP 1, FP 1 (gold 0 → 2), FN 0              → 2/3
  //   macro = (0.5 + 0.8 + 2/3) / 3 = 0.6555…
  const pred = [0, 0, 1, 1, 2, 2], gold = [0, 1, 1, 1, 2, 0];
  assertAlmostEquals(macroF1(pred, gold), (0.5 + 0.8 + 2 / 3) / 3, 1e-12);
});

Deno.test("macroF1() uses zero_division=0 and averages only present classes", () => {
  // class 0: TP 1, FP 1, FN 0 → 2/3; class 1: never predicted, TP 0 → 0
  assertAlmostEquals(macroF1([0, 0], [0, 1]), 1 / 3, 1e-12);
  // numClasses does not add absent classes to the average
  assertAlmostEquals(macroF1([0, 0], [0, 1], 5), 1 / 3, 1e-12);
  // a class only predicted (never gold) counts with F1 = 0
  assertEquals(macroF1([2], [0]), 0);
  assertEquals(macroF1([1, 2, 3], [1, 2, 3]), 1);
});

Deno.test("macroF1() equals accuracy for a single class", () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 20 }), (n) => {
      const xs = new Array<number>(n).fill(0);
      return macroF1(xs, xs) === 1 && accuracy(xs, xs) === 1;
    }),
  );
});

// ---------------------------------------------------------------- 13a tokenizer

Deno.test("tokenize13a() splits punctuation and symbols", () => {
  assertEquals(tokenize13a("Hello, world!"), "Hello , world !");
  assertEquals(tokenize13a("(a)[b]{c}"), "( a ) [ b ] { c }");
  assertEquals(
    tokenize13a("$5 @home #tag 50% a+b=c"),
    "$ 5 @ home # tag 50 % a + b = c",
  );
  assertEquals(
    tokenize13a('say "x"; y: z? a/b \\ ^_` |~'),
    'say " x " ; y : z ? a / b \\ ^ _ ` | ~',
  );
});

Deno.test("tokenize13a() keeps apostrophes, inner hyphens and non-ASCII punctuation", () => {
  assertEquals(
    tokenize13a("it's a well-known don't"),
    "it's a well-known don't",
  );
  assertEquals(tokenize13a("«bonjour» — ¿qué?"), "«bonjour» — ¿qué ?");
});

Deno.test("tokenize13a() splits periods and commas unless between digits", () => {
  // "3.14" and "1,000" keep their separators (digit on both sides); the
  // comma after 3.14 and the final period are followed by non-digits.
  assertEquals(tokenize13a("3.14, 1,000 and 2.5."), "3.14 , 1,000 and 2.5 .");
  assertEquals(tokenize13a("U.S.A."), "U . S . A .");
  assertEquals(tokenize13a("a.b,c"), "a . b , c");
  // period after a digit but before a letter: rule 3 splits it
  assertEquals(tokenize13a("5.a"), "5 . a");
  // period after a letter but before a digit: rule 2 splits it
  assertEquals(tokenize13a("a.5"), "a . 5");
});

Deno.test("tokenize13a() splits a dash only after a digit", () => {
  assertEquals(tokenize13a("1990-2000"), "1990 - 2000");
  assertEquals(tokenize13a("a-1 -5 x-y"), "a-1 -5 x-y");
  assertEquals(tokenize13a("5-a"), "5 - a");
});

Deno.test("tokenize13a() unescapes entities and handles <skipped> and newlines", () => {
  assertEquals(tokenize13a("&quot;Hi&quot; &amp; &lt;b&gt;"), '" Hi " & < b >');
  assertEquals(tokenize13a("&apos;x"), "& apos ; x");
  assertEquals(tokenize13a("<skipped>word"), "word");
  assertEquals(tokenize13a("hyph-\nenated a\nb"), "hyphenated a b");
});

Deno.test("tokenize13a() splits on Python's whitespace set, not JavaScript's", () => {
  assertEquals(tokenize13a("a\u00a0b\u3000c\x1fd"), "a b c d");
  // U+FEFF is whitespace in JavaScript regexps but not in Python
  assertEquals(tokenize13a("a\ufeffb"), "a\ufeffb");
  assertEquals(tokenize13a("  spaced   out  "), "spaced out");
});

// ---------------------------------------------------------------- BLEU

// sacreBLEU README / test_bleu.py example. sacreBLEU takes reference streams
// (refs[k][i]); heed takes per-hypothesis lists, so transpose.
const README_REFS = [
  ["The dog bit the man.", "It was not unexpected.", "The man bit him first."],
  [
    "The dog had bit the man.",
    "No one was surprised.",
    "The man had bitten the dog.",
  ],
];
const README_HYPS = [
  "The dog bit the man.",
  "It wasn't surprising.",
  "The man had just bitten him.",
];
const PER_HYP = README_HYPS.map((_, i) => README_REFS.map((s) => s[i]!));

Deno.test("corpusBleu() reproduces sacreBLEU's test-suite scores", () => {
  // test_corpus_bleu_cases (tolerance 1e-8 there; the expected values are
  // printed to 6-7 decimals, so 1e-6 here)
  assertAlmostEquals(corpusBleu(README_HYPS, PER_HYP).score, 48.530827, 1e-6);
  assertAlmostEquals(
    corpusBleu(README_HYPS, PER_HYP, { tokenize: "13a" }).score,
    48.530827,
    1e-6,
  );
  assertAlmostEquals(
    corpusBleu(README_HYPS, PER_HYP, { tokenize: "none" }).score,
    49.1919566,
    1e-6,
  );
  assertAlmostEquals(
    corpusBleu(README_HYPS, PER_HYP, { smoothMethod: "none" }).score,
    48.530827,
    1e-6,
  );
  assertEquals(corpusBleu(["", "", ""], PER_HYP).score, 0);
  // test_max_ngram_order
  const expected = ["77.65", "60.50", "53.93", "48.53", "46.14", "43.28"];
  expected.forEach((e, i) => {
    assertEquals(
      corpusBleu(README_HYPS, PER_HYP, { maxNgramOrder: i + 1 }).score.toFixed(
        2,
      ),
      e,
    );
  });
});

Deno.test("corpusBleu() reproduces sacreBLEU's raw_corpus_bleu cases", () => {
  // raw_corpus_bleu = floor smoothing, tokenize none, effective order
  const raw = {
    smoothMethod: "floor",
    smoothValue: 0.01,
    tokenize: "none",
    effectiveOrder: true,
  } as const;
  assertEquals(
    corpusBleu(["this is a test", "another test"], ["ref1", "ref2"], raw).score,
    0,
  );
  assertAlmostEquals(
    corpusBleu(["this is a test"], ["this is a test"], raw).score,
    100,
    1e-9,
  );
  assertAlmostEquals(
    corpusBleu(["this is a fest"], ["this is a test"], raw).score / 100,
    0.223606797749979,
    1e-8,
  );
  assertAlmostEquals(
    corpusBleu(["test"], ["a test"], raw).score / 100,
    0.3678794411714425,
    1e-8,
  );
  assertAlmostEquals(
    corpusBleu(["a test"], ["a test"], raw).score / 100,
    1,
    1e-8,
  );
  assertAlmostEquals(
    corpusBleu(["a little test"], ["a test"], raw).score / 100,
    0.03218297948685433,
    1e-8,
  );
  const hyp = ["am I am a character sequence"],
    ref = ["I am a symbol string sequence a a"];
  const st = corpusBleu(hyp, ref, raw);
  assertEquals([st.counts, st.totals], [[4, 2, 1, 0], [6, 5, 4, 3]]);
  assertAlmostEquals(
    corpusBleu(hyp, ref, { ...raw, smoothValue: 0.1 }).score / 100,
    0.1555722182,
    1e-8,
  );
  assertEquals(corpusBleu(hyp, ref, { ...raw, smoothValue: 0 }).score, 0);
  // test_scoring: compute_bleu([9,7,5,3], [10,8,6,4], 11, 11)
  assertAlmostEquals(
    bleuFromStats([9, 7, 5, 3], [10, 8, 6, 4], 11, 11).score / 100,
    0.8375922397,
    1e-8,
  );
});

Deno.test("corpusBleu() matches the Hugging Face sacrebleu metric card", () => {
  // hyp 1 matches ref 1 fully (4 tokens); hyp 2 "on our way to ankh morpork"
  // matches "ankh", "morpork", "ankh morpork". counts = [4+2, 3+1, 2+0, 1+0],
  // totals = [4+6, 3+5, 2+4, 1+3]; closest ref lengths 4 and 3 → refLen 7.
  // BLEU = (6/10 · 4/8 · 2/6 · 1/4)^(1/4) · 100 = 0.025^(1/4) · 100
  const r = corpusBleu(
    ["hello there general kenobi", "on our way to ankh morpork"],
    [["hello there general kenobi", "hello there !"], [
      "goodbye ankh morpork",
      "ankh morpork",
    ]],
  );
  assertEquals([r.counts, r.totals, r.sysLen, r.refLen, r.bp], [
    [6, 4, 2, 1],
    [10, 8, 6, 4],
    10,
    7,
    1,
  ]);
  assertAlmostEquals(r.score, 39.76353643835252, 1e-9);
  assertAlmostEquals(r.score, 100 * 0.025 ** 0.25, 1e-9);
});

Deno.test("corpusBleu() gives 100 for a perfect match and 0 for an empty hypothesis", () => {
  const r = corpusBleu(["The cat sat on the mat."], [
    "The cat sat on the mat.",
  ]);
  // exp(4 · log 100 / 4) rounds to 100.00000000000004, in sacreBLEU too
  assertAlmostEquals(r.score, 100, 1e-9);
  assertEquals([r.bp, r.precisions], [1, [100, 100, 100, 100]]);
  const e = corpusBleu([""], ["a b c d"]);
  assertEquals([e.score, e.bp, e.sysLen, e.refLen], [0, 0, 0, 4]);
});

Deno.test("corpusBleu() applies the brevity penalty", () => {
  // hyp 4 tokens, ref 6 tokens, every n-gram matches: p_n = 100.
  // BP = exp(1 − 6/4) = exp(−0.5); BLEU = 100 · exp(−0.5) = 60.653…
  const r = corpusBleu(["the cat sat on"], ["the cat sat on the mat"]);
  assertAlmostEquals(r.bp, Math.exp(-0.5), 1e-15);
  assertAlmostEquals(r.score, 100 * Math.exp(-0.5), 1e-12);
  // a longer hypothesis has no penalty
  assertEquals(corpusBleu(["a b c d e"], ["a b c d"]).bp, 1);
});

Deno.test("corpusBleu() smooths orders without matches as sacreBLEU does", () => {
  // hyp "a b c d", ref "a b d c":
  //   1-grams 4/4; 2-grams {ab, bc, cd} vs {ab, bd, dc}: 1/3; 3-grams 0/2; 4-grams 0/1
  // exp:   p3 = 100/(2·2) = 25, p4 = 100/(4·1) = 25
  //        BLEU = (100 · 100/3 · 25 · 25)^(1/4)
  // floor: p3 = 100·0.1/2 = 5, p4 = 100·0.1/1 = 10
  // none:  p3 = 0 → BLEU = 0
  const h = ["a b c d"], r = ["a b d c"];
  const exp = corpusBleu(h, r);
  assertEquals([exp.counts, exp.totals], [[4, 1, 0, 0], [4, 3, 2, 1]]);
  assertAlmostEquals(exp.precisions[2]!, 25, 1e-12);
  assertAlmostEquals(exp.precisions[3]!, 25, 1e-12);
  assertAlmostEquals(exp.score, (100 * (100 / 3) * 25 * 25) ** 0.25, 1e-9);
  assertAlmostEquals(
    corpusBleu(h, r, { smoothMethod: "floor" }).score,
    (100 * (100 / 3) * 5 * 10) ** 0.25,
    1e-9,
  );
  assertEquals(corpusBleu(h, r, { smoothMethod: "none" }).score, 0);
  // add-k (k = 1) for n > 1: p2 = 2/4, p3 = 1/3, p4 = 1/2 (in %)
  const addk = corpusBleu(h, r, { smoothMethod: "add-k" });
  assertEquals([addk.counts, addk.totals], [[4, 2, 1, 1], [4, 4, 3, 2]]);
  assertAlmostEquals(addk.score, (100 * 50 * (100 / 3) * 50) ** 0.25, 1e-9);
});

Deno.test("corpusBleu() scores 0 without 4-grams unless effectiveOrder is set", () => {
  // 3-token hypothesis: no 4-grams, so p4 = 0 and BLEU = 0 (sacreBLEU's
  // corpus default); effective order averages the 3 orders only.
  assertEquals(corpusBleu(["a b c"], ["a b c"]).score, 0);
  assertAlmostEquals(
    corpusBleu(["a b c"], ["a b c"], { effectiveOrder: true }).score,
    100,
    1e-12,
  );
});

Deno.test("corpusBleu() clips by the maximum count over references and takes the closest length", () => {
  // hyp "the the the the": "the" ×4, ref max count max(1, 2) = 2 → 2/4;
  // "the the" ×3 vs ref 2 has 1 → 1/3; 3- and 4-grams: 0/2, 0/1.
  // hyp length 4; ref lengths 2 and 6 are both 2 away → the shorter, 2.
  const r = corpusBleu(["the the the the"], [[
    "the cat",
    "the the dog sat on it",
  ]]);
  assertEquals([r.counts, r.totals, r.refLen], [[2, 1, 0, 0], [4, 3, 2, 1], 2]);
  // single-reference form and list form agree; empty references are skipped
  assertEquals(
    corpusBleu(["a b c d"], ["a b c d"]),
    corpusBleu(["a b c d"], [["", "a b c d"]]),
  );
  assertThrows(
    () => corpusBleu(["a"], [[""]]),
    RangeError,
    "no non-empty reference",
  );
  assertThrows(
    () => corpusBleu(["a", "b"], ["a"]),
    RangeError,
    "2 hypotheses but 1",
  );
});

Deno.test("corpusBleu() lower-cases when asked", () => {
  const h = ["The Cat Sat Down"], r = ["the cat sat down"];
  assertEquals(corpusBleu(h, r).score, 0);
  assertAlmostEquals(corpusBleu(h, r, { lowercase: true }).score, 100, 1e-9);
});

Deno.test("corpusBleu() tokenizes with 13a by default and not with tokenize none", () => {
  // 13a: "dog." → "dog ." so "dog" matches; none: "dog." ≠ "dog"
  const h = ["the big dog."], r = ["the big dog ."];
  assertAlmostEquals(corpusBleu(h, r).score, 100, 1e-9);
  assertEquals(corpusBleu(h, r, { tokenize: "none" }).counts, [2, 1, 0, 0]);
  // &quot; is unescaped before matching
  assertAlmostEquals(
    corpusBleu(['a "b" c d'], ["a &quot;b&quot; c d"]).score,
    100,
    1e-9,
  );
});

Deno.test("corpusBleu() is 100 for identical sentences of at least four tokens", () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.array(fc.constantFrom("a", "b", "cat", "dog", ",", "."), {
          minLength: 4,
          maxLength: 12,
        }),
        { minLength: 1, maxLength: 5 },
      ),
      (sents) => {
        const s = sents.map((w) => w.join(" "));
        return Math.abs(corpusBleu(s, s).score - 100) < 1e-9;
      },
    ),
  );
});

// ---------------------------------------------------------------- chrF

Deno.test("corpusChrf() matches the Hugging Face chrf metric card", () => {
  const r = corpusChrf(
    ["The relationship between Obama and Netanyahu is not exactly friendly."],
    ["The ties between Obama and Netanyahu are not particularly friendly."],
  );
  assertAlmostEquals(r.score, 61.576379378113785, 1e-9);
  assertEquals([r.charOrder, r.wordOrder, r.beta], [6, 0, 2]);
  const p = [
    "The relationship between cats and dogs is not exactly friendly.",
    "a good bookshop is just a genteel black hole that knows how to read.",
  ];
  const ref = [
    "The relationship between dogs and cats is not exactly friendly.",
    "A good bookshop is just a genteel Black Hole that knows how to read.",
  ];
  assertAlmostEquals(corpusChrf(p, ref).score, 84.64214891738334, 1e-9);
  assertAlmostEquals(
    corpusChrf(p, ref, { wordOrder: 2 }).score,
    82.87263732906315,
    1e-9,
  );
  assertAlmostEquals(
    corpusChrf(p, ref, { wordOrder: 2, lowercase: true }).score,
    92.12853119829202,
    1e-9,
  );
});

Deno.test("corpusChrf() reproduces sacreBLEU's effective-order test cases", () => {
  // test_chrf.py test_cases_effective_order (beta = 3, eps_smoothing = False)
  const cases: [string[], string[], number][] = [
    [["a"], ["a"], 100],
    [[""], ["reference"], 0],
    [["a b c"], ["a b c"], 100],
    [["a b c"], ["abc"], 100],
    [[""], ["c"], 0],
    [["a", "b"], ["a", "c"], 50],
    [["aa"], ["ab"], 25],
  ];
  for (const [h, r, e] of cases) {
    assertAlmostEquals(corpusChrf(h, r, { beta: 3 }).score, e, 1e-4);
  }
});

Deno.test("corpusChrf() reproduces sacreBLEU's eps-smoothing test cases", () => {
  // test_chrf.py test_cases (beta = 3, eps_smoothing = True), tolerance 1e-4 there
  const eps = { beta: 3, epsSmoothing: true };
  const cases: [string[], string[], number][] = [
    [["abcdefg"], ["hijklmnop"], 0],
    [["a"], ["b"], 0],
    [[""], ["b"], 0],
    [[""], ["ref"], 0],
    [["aa"], ["ab"], 8.3333],
    [["a", "b"], ["a", "c"], 8.3333],
    [["a"], ["a"], 16.6667],
    [["a b c"], ["a b c"], 50],
    [["a b c"], ["abc"], 50],
    [
      [" risk assessment must be made of those who are qualified and expertise in the sector - these are the scientists ."],
      ["risk assessment has to be undertaken by those who are qualified and expert in that area - that is the scientists ."],
      63.36173,
    ],
    [
      [" Die    Beziehung zwischen  Obama und Netanjahu ist nicht gerade  freundlich. "],
      ["Das Verhältnis zwischen Obama und Netanyahu ist nicht gerade freundschaftlich."],
      64.1302698,
    ],
    [["Niemand hat die Absicht, eine Mauer zu errichten"], [
      "Niemand hat die Absicht, eine Mauer zu errichten",
    ], 100],
  ];
  for (const [h, r, e] of cases) {
    assertAlmostEquals(corpusChrf(h, r, eps).score, e, 1e-4);
  }
  // sentence-level cases (beta 2, eps smoothing)
  const cs: [string, string, number][] = [
    [
      "Co nás nejvíc trápí, protože lékaři si vybírají, kdo bude žít a kdo zemře.",
      "Nejvíce smutní jsme z toho, že musíme rozhodovat o tom, kdo bude žít a kdo zemře.",
      39.14078509,
    ],
    [
      "Nebo prostě nemají vybavení, které by jim pomohlo, uvedli lékaři.",
      "A někdy nemáme ani potřebný materiál, abychom jim pomohli, popsali lékaři.",
      31.22557079,
    ],
    [
      "Lapali po dechu, jejich životy skončily dřív, než skutečně začaly.",
      "Lapali po dechu a pak jejich život skončil - dřív, než skutečně mohl začít, připomněli.",
      57.15704367,
    ],
  ];
  for (const [h, r, e] of cs) {
    assertAlmostEquals(
      corpusChrf([h], [r], { epsSmoothing: true }).score,
      e,
      1e-4,
    );
  }
});

Deno.test("corpusChrf() keeps whitespace when asked, as sacreBLEU's test cases", () => {
  // test_chrf.py test_cases_keep_whitespace (beta = 3)
  const ws = { beta: 3, whitespace: true };
  assertAlmostEquals(
    corpusChrf(
      ["Die Beziehung zwischen Obama und Netanjahu ist nicht gerade freundlich."],
      ["Das Verhältnis zwischen Obama und Netanyahu ist nicht gerade freundschaftlich."],
      ws,
    ).score,
    67.3481606,
    1e-4,
  );
  assertAlmostEquals(
    corpusChrf(
      ["risk assessment must be made of those who are qualified and expertise in the sector - these are the scientists ."],
      ["risk assessment has to be undertaken by those who are qualified and expert in that area - that is the scientists ."],
      ws,
    ).score,
    65.2414427,
    1e-4,
  );
});

Deno.test("corpusChrf() matches a hand computation of effective-order averaging", () => {
  // "aa" vs "ab", beta 3. Order 1: hyp {a:2}, ref {a:1, b:1}, match 1 → P = R = 1/2.
  // Order 2: {aa} vs {ab} → P = R = 0. Orders 3-6: no hypothesis n-grams, skipped.
  // avg P = avg R = (1/2 + 0)/2 = 1/4; F_3 = 10 · (1/16) / (9/4 + 1/4) = 1/4 → 25.
  const r = corpusChrf(["aa"], ["ab"], { beta: 3 });
  assertEquals(r.stats.slice(0, 6), [2, 2, 1, 1, 1, 0]);
  assertEquals(r.score, 25);
  // chrF++ of "a b" vs "a c" (beta 2): chars "ab"/"ac": P1 = R1 = 1/2, P2 = R2 = 0;
  // words {a, b}/{a, c}: 1/2; bigrams "a b"/"a c": 0. avg over 4 orders = 1/4 → 25.
  assertAlmostEquals(
    corpusChrf(["a b"], ["a c"], { wordOrder: 2 }).score,
    25,
    1e-12,
  );
  // chrF++ splits punctuation off word ends: "hi!" → "hi", "!"
  assertEquals(
    corpusChrf(["hi!"], ["hi !"], { charOrder: 0, wordOrder: 1 }).score,
    100,
  );
  // …but only one mark per word (sacreBLEU issue #124): "(hi)" → "(hi", ")"
  // vs "(hi )" → "(", "hi", ")": 1 match, P = 1/2, R = 1/3,
  // F_2 = 5 · (1/6) / (4 · 1/2 + 1/3) = 5/14
  assertAlmostEquals(
    corpusChrf(["(hi)"], ["(hi )"], { charOrder: 0, wordOrder: 1 }).score,
    500 / 14,
    1e-12,
  );
});

Deno.test("corpusChrf() lower-cases, picks the best reference and counts code points", () => {
  assertEquals(corpusChrf(["ABC"], ["abc"]).score, 0);
  assertEquals(corpusChrf(["ABC"], ["abc"], { lowercase: true }).score, 100);
  assertEquals(corpusChrf(["abc"], [["xyz", "abc"]]).score, 100);
  // one astral character is one 1-gram, as in Python
  assertEquals(corpusChrf(["😀"], ["😀"]).stats.slice(0, 6), [
    1,
    1,
    1,
    0,
    0,
    0,
  ]);
  assertThrows(
    () => corpusChrf(["a"], [""]),
    RangeError,
    "no non-empty reference",
  );
});

Deno.test("corpusChrf() with beta 1 is symmetric in hypothesis and reference", () => {
  const word = fc.constantFrom(
    "der",
    "die",
    "das",
    "Haus",
    "house",
    "a",
    "b",
    "ab",
    ",",
    "!",
  );
  const sent = fc.array(word, { minLength: 1, maxLength: 8 }).map((w) =>
    w.join(" ")
  );
  fc.assert(
    // one segment: summed corpus statistics are not symmetric, since
    // sacreBLEU drops hypothesis counts of orders the reference lacks
    fc.property(sent, sent, fc.constantFrom(0, 2), (h, r, wordOrder) => {
      const ab = corpusChrf([h], [r], { beta: 1, wordOrder }).score;
      const ba = corpusChrf([r], [h], { beta: 1, wordOrder }).score;
      return Math.abs(ab - ba) < 1e-9;
    }),
  );
});

Deno.test("corpusChrf() is 100 for identical non-blank sentences", () => {
  fc.assert(
    fc.property(
      fc.array(
        // non-blank in Python's sense too (U+001C-U+001F, U+0085 are spaces there)
        fc.string({ minLength: 1, maxLength: 30 }).filter((s) =>
          // deno-lint-ignore no-control-regex
          /[^\s\x1c-\x1f\x85]/.test(s)
        ),
        { minLength: 1, maxLength: 4 },
      ),
      (s) => Math.abs(corpusChrf(s, s, { wordOrder: 2 }).score - 100) < 1e-9,
    ),
  );
});
