// Issue 12 section 6: TSV files in the wild carry literal quotes; reading
// them must not need an option that the user only finds after an error.
import fc from "fast-check";
import { assertEquals, assertThrows } from "@std/assert";
import { DataError, readTsv } from "../../data/mod.ts";
import { rowsOf, writeCsv } from "./_fixtures.ts";

Deno.test("readTsv() reads literal quotes inside fields without an option", () => {
  const tsv =
    'en\tde\nhow do they say "who is your father" in german\tq\n5" tall\tx\n';
  assertEquals(readTsv(tsv).array("en"), [
    'how do they say "who is your father" in german',
    '5" tall',
  ]);
});

Deno.test("readTsv() unquotes well-formed RFC 4180 fields, tabs and doubled quotes included", () => {
  const t = readTsv('a\tb\n"Say ""aah."""\t"x\ty"\n""\t""""\n');
  assertEquals(rowsOf(t), [['Say "aah."', "x\ty"], ["", '"']]);
});

Deno.test("readTsv() takes a field that starts with a quote literally when its quoting is not well-formed", () => {
  const t = readTsv(
    'a\tb\n"Hi," he said.\tx\n"unclosed\ty\n"x"y\tz\n"end"\t"\n',
  );
  assertEquals(rowsOf(t), [
    ['"Hi," he said.', "x"],
    ['"unclosed', "y"],
    ['"x"y', "z"],
    ["end", '"'],
  ]);
});

Deno.test("readTsv() never joins lines through an unclosed quote", () => {
  // Both lines have two fields: a quoted field spanning the line break would
  // silently turn them into one row, so quoted fields end on their line.
  const t = readTsv('en\tde\n"Hello\tHallo\nWorld"\tWelt\n');
  assertEquals(rowsOf(t), [['"Hello', "Hallo"], ['World"', "Welt"]]);
});

Deno.test("readTsv() with strictQuotes: true is RFC 4180 again (quoted line breaks, stray quotes rejected)", () => {
  const t = readTsv('a\tb\n"two\nlines"\tx\n', { strictQuotes: true });
  assertEquals(t.array("a"), ["two\nlines"]);
  assertThrows(
    () =>
      readTsv('a\tb\n5" tall\tx\n', { strictQuotes: true, source: "s.tsv" }),
    DataError,
    "s.tsv:2:2: stray quote",
  );
});

Deno.test("readTsv() with quote: null keeps every quote", () => {
  assertEquals(readTsv('a\n"x"\n', { quote: null }).array("a"), ['"x"']);
});

const cell = fc.string({
  unit: fc.constantFrom("a", "Z", " ", '"', "\t", "ä", "😀", ","),
  maxLength: 6,
});
const rowsArb = fc.integer({ min: 1, max: 3 }).chain((w) =>
  fc.array(fc.array(cell, { minLength: w, maxLength: w }), {
    minLength: 1,
    maxLength: 8,
  })
);

Deno.test("readTsv() round-trips RFC 4180 TSV without line breaks in fields", () => {
  fc.assert(
    fc.property(rowsArb, fc.constantFrom("\n", "\r\n"), (rows, eol) => {
      const names = rows[0]!.map((_, k) => `c${k}`);
      const w = writeCsv(names, rows, { delimiter: "\t", eol });
      assertEquals(rowsOf(readTsv(w.text)), rows);
    }),
    { numRuns: 500 },
  );
});

Deno.test("readTsv() round-trips files that quote only the fields starting with a quote", () => {
  // What Tatoeba-like writers do: every other field is written as it is,
  // literal quotes included.
  const plain = fc.string({
    unit: fc.constantFrom("a", " ", '"', "ä", ","),
    maxLength: 6,
  });
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 3 }).chain((w) =>
        fc.array(fc.array(plain, { minLength: w, maxLength: w }), {
          minLength: 1,
          maxLength: 8,
        })
      ),
      (rows) => {
        const enc = (f: string) =>
          f.startsWith('"') ? `"${f.replaceAll('"', '""')}"` : f;
        const names = rows[0]!.map((_, k) => `c${k}`);
        const text = [names, ...rows].map((r) => r.map(enc).join("\t"))
          .join("\n") + "\n";
        assertEquals(rowsOf(readTsv(text)), rows);
      },
    ),
    { numRuns: 500 },
  );
});

Deno.test("readTsv() gives a table or a DataError, never a crash, on hostile text", () => {
  const hostile = fc.string({
    unit: fc.constantFrom('"', "\t", "\n", "\r", "a", "\ufeff", " "),
    maxLength: 60,
  });
  fc.assert(
    fc.property(hostile, (text) => {
      try {
        const t = readTsv(text, { source: "h.tsv" });
        for (const c of t.columnNames()) {
          assertEquals((t.array(c) as ArrayLike<unknown>).length, t.numRows());
        }
      } catch (e) {
        if (!(e instanceof DataError)) throw e;
        assertEquals(e.message.startsWith("h.tsv"), true, e.message);
      }
    }),
    { numRuns: 500 },
  );
});

Deno.test("readTsv() stays linear on lines full of unbalanced quotes", () => {
  const n = 100_000;
  // Each first field opens a quote and doubles the rest, so only the "y
  // after the tab shows that it is not well-formed.
  const lines = [
    "a\tb",
    ...Array.from({ length: 20 }, () => '"' + 'x""'.repeat(n / 20) + '\t"y'),
  ];
  // One quote opens a line of many tab-separated fields and never closes.
  const wide = '"' + "z\t".repeat(n) + "z\n";
  const start = performance.now();
  assertEquals(readTsv(lines.join("\n") + "\n").numRows(), 20);
  assertEquals(readTsv(wide, { header: false }).numCols(), n + 1);
  const ms = performance.now() - start;
  // Quadratic rescanning would take minutes here; linear takes milliseconds.
  assertEquals(ms < 5000, true, `took ${ms.toFixed(0)} ms`);
});
