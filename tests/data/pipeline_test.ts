import * as aq from "arquero";
import fc from "fast-check";
import {
  assert,
  assertEquals,
  assertNotEquals,
  assertThrows,
} from "@std/assert";
import { key } from "../../ops/random_key.ts";
import {
  cleanText,
  dedupe,
  encodeLabels,
  filterLength,
  LabelEncoder,
  normalizeText,
  pipe,
  shuffleRows,
  splitSizes,
  splitTable,
  tokenize,
  trainWordTokenizer,
} from "../../data/mod.ts";

Deno.test("pipeline steps compose and never change their input table", () => {
  const t = aq.table({
    en: ["  Hello,\u200b WORLD ", "hello, world", "Bye…", ""],
    n: [1, 2, 3, 4],
  });
  const before = t.objects();
  const out = pipe(
    normalizeText("en", { lower: true }),
    cleanText("en", { punctuation: "ascii" }),
    dedupe("en"),
    filterLength("en", { min: 1 }),
  )(t);
  assertEquals(out.objects(), [{ en: "hello, world", n: 1 }, {
    en: "bye...",
    n: 3,
  }]);
  assertEquals(t.objects(), before);
});

Deno.test("steps name a missing column and reject non-string values", () => {
  const t = aq.table({ en: ["a", null] });
  assertThrows(
    () => cleanText("de")(t),
    TypeError,
    'no column "de" (the table has: en)',
  );
  assertThrows(() => normalizeText("en")(t), TypeError, "row 1 is null");
  assertThrows(() => filterLength("en", { min: 3, max: 1 }), RangeError);
});

Deno.test("filterLength() measures chars, words, token ids or a function", () => {
  const t = aq.table({ s: ["ab", "a b c", "😀😀"], ids: [[1], [1, 2, 3], []] });
  assertEquals(filterLength("s", { max: 2 })(t).array("s"), ["ab", "😀😀"]);
  assertEquals(filterLength("s", { min: 2, by: "words" })(t).array("s"), [
    "a b c",
  ]);
  assertEquals(filterLength("ids", { min: 1, max: 1 })(t).array("s"), ["ab"]);
  assertEquals(
    filterLength("s", { max: 0, by: (x) => x.split("b").length - 1 })(t).array(
      "s",
    ),
    ["😀😀"],
  );
});

Deno.test("cleanText() removes control and invisible characters and can strip punctuation", () => {
  const t = aq.table({ s: ["a\u0000b\u00adc\r\nd", "«Hi»—you…"] });
  assertEquals(cleanText("s")(t).array("s"), ["a bc d", "«Hi»—you…"]);
  assertEquals(
    cleanText("s", { punctuation: "strip" })(t).array("s")[1],
    "Hi you",
  );
});

Deno.test("encodeLabels() encodes in encoder order and names an unknown label", () => {
  const t = aq.table({ y: ["b", "a", "c"] });
  const enc = LabelEncoder.fit(t, "y");
  assertEquals(encodeLabels("y", enc, { as: "id" })(t).array("id"), [1, 0, 2]);
  assertThrows(
    () => encodeLabels("y", new LabelEncoder(["a"]))(t),
    RangeError,
    'row 0 of column "y" has unknown label "b"',
  );
  assertThrows(() => new LabelEncoder(["a", "a"]), TypeError, "duplicate");
  assertThrows(() => enc.decode(3), RangeError);
});

Deno.test("tokenize() adds id columns next to the text", () => {
  const t = aq.table({ de: ["Hallo!"], en: ["Hi."] });
  const tok = trainWordTokenizer(["Hallo!", "Hi."]);
  const out = tokenize(["de", "en"], tok, { as: (c) => `${c}Ids` })(t);
  assertEquals(out.columnNames(), ["de", "en", "deIds", "enIds"]);
  assertEquals(tok.decode(out.get("enIds", 0) as Int32Array), "Hi.");
});

const rowsArb = fc.array(
  fc.tuple(fc.constantFrom("a", "b", "c", "d", "e", "f", "g"), fc.nat(99)),
  { maxLength: 60 },
);
const fractionsArb: fc.Arbitrary<Record<string, number>> = fc.constantFrom<
  Record<string, number>
>(
  { train: 0.8, valid: 0.1, test: 0.1 },
  { train: 0.5, test: 0.5 },
  { train: 1 },
  { a: 0.2, b: 0.3, c: 0.5 },
);

Deno.test("splits are disjoint, cover every row, and are stable under re-running", () => {
  fc.assert(
    fc.property(
      rowsArb,
      fractionsArb,
      fc.integer(),
      fc.boolean(),
      (rows, fractions, seed, grouped) => {
        const t = aq.table({
          src: rows.map((r) => r[0]),
          id: rows.map((_, i) => i),
        });
        const opts = {
          fractions,
          key: key(seed),
          ...(grouped ? { groupBy: "src" } : {}),
        };
        // Too little data is refused (issue 13): without groups exactly when
        // a part with a share would get no rows; with groups, also when the
        // groups cannot fill every part. Otherwise every such part has rows.
        const sizes = splitSizes(rows.length, fractions);
        const starved = sizes.some((n, i) =>
          n === 0 && Object.values(fractions)[i]! > 0
        );
        const groups = new Set(rows.map((r) => r[0])).size;
        let parts: Record<string, aq.ColumnTable>;
        try {
          parts = splitTable(t, opts);
        } catch (e) {
          if (!(e instanceof RangeError)) throw e;
          assert(
            e.message.startsWith(
              `splitTable: too little data: ${rows.length} row`,
            ),
            e.message,
          );
          if (grouped) {
            assert(
              e.message.includes(`in ${groups} group`),
              e.message,
            );
          } else assert(starved, `refused a split that fits: ${e.message}`);
          return;
        }
        assert(!starved, "a part with a share was left empty");
        for (const [name, p] of Object.entries(parts)) {
          if (fractions[name]! > 0) assert(p.numRows() > 0, name);
        }
        const again = splitTable(t, opts);
        const ids = Object.values(parts).flatMap((p) =>
          p.array("id") as number[]
        );
        assertEquals(ids.sort((a, b) => a - b), rows.map((_, i) => i));
        for (const name of Object.keys(parts)) {
          assertEquals(again[name]!.objects(), parts[name]!.objects());
        }
        if (grouped) {
          const owner = new Map<unknown, string>();
          for (const [name, p] of Object.entries(parts)) {
            for (const s of p.array("src") as string[]) {
              assertEquals(
                owner.get(s) ?? name,
                name,
                `group ${s} leaks across splits`,
              );
              owner.set(s, name);
            }
          }
        }
      },
    ),
    { numRuns: 200 },
  );
});

Deno.test("a grouped split does not depend on the order of the input rows", () => {
  const src = Array.from({ length: 40 }, (_, i) => `s${i % 13}`);
  const t = aq.table({ src, i: src.map((_, k) => k) });
  const opts = {
    fractions: { train: 0.7, test: 0.3 },
    key: key(3),
    groupBy: "src",
  };
  const a = new Set(splitTable(t, opts).test.array("src"));
  const b = new Set(splitTable(shuffleRows(key(9))(t), opts).test.array("src"));
  assertEquals([...a].sort(), [...b].sort());
});

Deno.test("splits follow the fractions without groups and change with the key", () => {
  const t = aq.table({ i: Array.from({ length: 1000 }, (_, k) => k) });
  const { train, valid, test } = splitTable(t, {
    fractions: { train: 0.8, valid: 0.1, test: 0.1 },
    key: key(1),
  });
  assertEquals([train.numRows(), valid.numRows(), test.numRows()], [
    800,
    100,
    100,
  ]);
  const other = splitTable(t, {
    fractions: { train: 0.8, valid: 0.1, test: 0.1 },
    key: key(2),
  });
  assertNotEquals(other.test.array("i"), test.array("i"));
  assertThrows(
    () => splitTable(t, { fractions: { a: 0.5, b: 0.6 }, key: key(0) }),
    RangeError,
    "sum to 1",
  );
});

Deno.test("shuffles with the same key are identical and with different keys differ", () => {
  fc.assert(
    fc.property(fc.integer(), fc.integer(), (s1, s2) => {
      fc.pre(s1 !== s2);
      const t = aq.table({ x: Array.from({ length: 30 }, (_, i) => i) });
      const a = shuffleRows(key(s1))(t).array("x");
      assertEquals(shuffleRows(key(s1))(t).array("x"), a);
      assertNotEquals(shuffleRows(key(s2))(t).array("x"), a);
      assert([...a].sort((p, q) => p - q).every((v, i) => v === i));
    }),
    { numRuns: 100 },
  );
});
