// Issue 13: too little data for a split says so up front, naming the row
// count and the split asked for.
import * as aq from "arquero";
import { assertEquals, assertThrows } from "@std/assert";
import { key } from "../../ops/random_key.ts";
import { splitSizes, splitTable } from "../../data/mod.ts";

const rows = (n: number) =>
  aq.table({ i: Array.from({ length: n }, (_, k) => k) });

/** The message of the RangeError that splitting `table` throws. */
function refusal(
  table: aq.ColumnTable,
  fractions: Record<string, number>,
  groupBy?: string,
): string {
  const opts = { fractions, key: key(0), ...(groupBy ? { groupBy } : {}) };
  return assertThrows(() => splitTable(table, opts), RangeError).message;
}

Deno.test("splitTable() refuses 2 rows with a validation fraction, naming the rows and the split", () => {
  assertEquals(
    refusal(rows(2), { train: 0.9, valid: 0.1 }),
    "splitTable: too little data: 2 rows cannot be split as train 0.9, valid 0.1; valid would get no rows (this split needs at least 6 rows)",
  );
  assertEquals(
    refusal(rows(1), { train: 0.5, test: 0.5 }),
    "splitTable: too little data: 1 row cannot be split as train 0.5, test 0.5; test would get no rows (this split needs at least 2 rows)",
  );
  assertEquals(
    refusal(rows(0), { train: 1 }),
    "splitTable: too little data: 0 rows cannot be split as train 1; train would get no rows (this split needs at least 1 row)",
  );
});

Deno.test("splitTable() names the data's source in the refusal", () => {
  assertThrows(
    () =>
      splitTable(rows(2), {
        fractions: { train: 0.8, test: 0.2 },
        key: key(0),
        source: "mine.csv",
      }),
    RangeError,
    "splitTable: too little data in mine.csv: 2 rows cannot be split as train 0.8, test 0.2; test would get no rows (this split needs at least 3 rows)",
  );
});

Deno.test("splitTable() refuses a grouped split with fewer groups than parts", () => {
  const t = aq.table({
    en: ["Hi.", "Hi.", "Hi.", "Go."],
    de: ["a", "b", "c", "d"],
  });
  const message = refusal(t, { train: 0.5, valid: 0.25, test: 0.25 }, "en");
  assertEquals(
    message.replace(/; \w+ would get/, "; _ would get"),
    "splitTable: too little data: 4 rows cannot be split as train 0.5, valid 0.25, test 0.25; _ would get no rows (4 rows in 2 groups of equal en; each part needs whole groups)",
  );
});

Deno.test("splitTable() still splits the smallest table that fits, and a zero fraction may be empty", () => {
  const { train, valid } = splitTable(rows(6), {
    fractions: { train: 0.9, valid: 0.1 },
    key: key(0),
  });
  assertEquals([train.numRows(), valid.numRows()], [5, 1]);
  const parts = splitTable(rows(3), {
    fractions: { train: 1, test: 0 },
    key: key(0),
  });
  assertEquals([parts.train.numRows(), parts.test.numRows()], [3, 0]);
});

Deno.test("splitSizes() gives splitTable's part sizes without doing the split", () => {
  for (const n of [0, 1, 2, 5, 9, 10, 101]) {
    const fractions = { train: 0.8, valid: 0.1, test: 0.1 };
    const sizes = splitSizes(n, fractions);
    assertEquals(sizes.reduce((a, b) => a + b, 0), n);
    if (sizes.every((s) => s > 0)) {
      const parts = splitTable(rows(n), { fractions, key: key(n) });
      assertEquals(
        [parts.train.numRows(), parts.valid.numRows(), parts.test.numRows()],
        sizes,
      );
    }
  }
  assertThrows(
    () => splitSizes(-1, { a: 1 }),
    RangeError,
    "splitSizes: the row count",
  );
  assertThrows(
    () => splitSizes(3, { a: 0.5 }),
    RangeError,
    "splitSizes: fractions must sum to 1",
  );
});
