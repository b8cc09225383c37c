// Point 7 of issue 6: generated malformed and hostile files each give a
// correct table or a clear DataError; never a crash, a hang or a silently
// dropped row.
import fc from "fast-check";
import { assert, assertEquals } from "@std/assert";
import { type BadRow, DataError, readCsv, readJsonl } from "../../data/mod.ts";
import { lineAt, rowsOf, writeCsv } from "./_fixtures.ts";

const CELL_CHARS = [
  "a",
  "b",
  "Z",
  " ",
  ",",
  ";",
  "\t",
  '"',
  "\n",
  "\r",
  "ä",
  "😀",
  "\u0301",
  "x",
];
const cell = fc.string({ unit: fc.constantFrom(...CELL_CHARS), maxLength: 6 });

/** A table: unique names and rows of the same width. */
const tableArb = fc.integer({ min: 1, max: 4 }).chain((width) =>
  fc.record({
    names: fc.uniqueArray(
      fc.string({
        unit: fc.constantFrom("a", "b", "c", "d", "_"),
        minLength: 1,
        maxLength: 3,
      }),
      {
        minLength: width,
        maxLength: width,
      },
    ),
    rows: fc.array(fc.array(cell, { minLength: width, maxLength: width }), {
      maxLength: 8,
    }),
    delimiter: fc.constantFrom(",", "\t", ";"),
    eol: fc.constantFrom("\n", "\r\n"),
    bom: fc.boolean(),
    trailing: fc.boolean(),
  })
);

type Case =
  | { kind: "valid"; huge: boolean; blank: number[] }
  | { kind: "ragged"; row: number; add: boolean; skip: boolean }
  | { kind: "stray"; row: number; col: number }
  | { kind: "utf8"; at: number; byte: number }
  | { kind: "truncate"; at: number };

const caseArb: fc.Arbitrary<Case> = fc.oneof(
  fc.record({
    kind: fc.constant("valid" as const),
    huge: fc.boolean(),
    blank: fc.array(fc.nat(8), { maxLength: 3 }),
  }),
  fc.record({
    kind: fc.constant("ragged" as const),
    row: fc.nat(),
    add: fc.boolean(),
    skip: fc.boolean(),
  }),
  fc.record({
    kind: fc.constant("stray" as const),
    row: fc.nat(),
    col: fc.nat(),
  }),
  fc.record({
    kind: fc.constant("utf8" as const),
    at: fc.nat(),
    byte: fc.constantFrom(0xff, 0xc0, 0xf8, 0xfe),
  }),
  fc.record({ kind: fc.constant("truncate" as const), at: fc.nat() }),
);

const source = "gen.csv";

type Outcome<T> = { ok: T; err: null } | { ok: null; err: DataError };

/** Runs the reader; any throw that is not a DataError fails the property. */
function attempt<T>(f: () => T): Outcome<T> {
  try {
    return { ok: f(), err: null };
  } catch (e) {
    if (e instanceof DataError) {
      assert(
        e.message.startsWith(source),
        `error does not name the file: ${e.message}`,
      );
      return { ok: null, err: e };
    }
    throw e;
  }
}

function table<T>(r: Outcome<T>, what: string): T {
  if (r.err) throw new Error(`${what}: ${r.err.message}`);
  return r.ok!;
}

function error<T>(r: Outcome<T>, what: string): DataError {
  if (!r.err) throw new Error(what);
  return r.err;
}

function cellKey(rows: string[][]): string {
  return JSON.stringify(rows);
}

Deno.test("readCsv() gives a correct table or a clear error for 1,200 generated hostile files", () => {
  fc.assert(
    fc.property(tableArb, caseArb, (t, c) => {
      const rows = t.rows.map((r) => [...r]);
      const opts = {
        delimiter: t.delimiter,
        eol: t.eol,
        bom: t.bom,
        trailing: t.trailing,
      };
      const read = (
        input: string | Uint8Array,
        onBadRow?: (b: BadRow) => void,
      ) =>
        attempt(() =>
          readCsv(input, {
            source,
            delimiter: t.delimiter,
            ...(onBadRow ? { onBadRow } : {}),
          })
        );

      if (c.kind === "valid") {
        if (c.huge && rows.length > 0) rows[0]![0] = 'x,"y"\n'.repeat(40_000); // a 240 kB field
        const w = writeCsv(t.names, rows, {
          ...opts,
          blankAfter: new Set(t.names.length > 1 ? c.blank : []),
        });
        const r = read(c.huge ? w.text : new TextEncoder().encode(w.text));
        const got = table(r, "valid file rejected");
        assertEquals(got.columnNames(), t.names);
        assertEquals(cellKey(rowsOf(got)), cellKey(rows));
        return;
      }
      if (c.kind === "ragged") {
        if (rows.length === 0 || (!c.add && t.names.length < 2)) return;
        const i = c.row % rows.length;
        const bad = c.add ? [...rows[i]!, "extra"] : rows[i]!.slice(1);
        const w = writeCsv(
          t.names,
          rows.map((r, k) => (k === i ? bad : r)),
          opts,
        );
        const line = lineAt(w.text, w.rowStarts[i]!);
        if (bad.length === 1 && bad[0] === "") {
          // The cut row is written as an empty line: in a wide file that is
          // a blank line, not a row, and holds no data to lose.
          const got = table(read(w.text), "a blank line was rejected");
          assertEquals(
            cellKey(rowsOf(got)),
            cellKey(rows.filter((_, k) => k !== i)),
          );
          return;
        }
        if (c.skip) {
          const skipped: BadRow[] = [];
          const r = read(w.text, (b) => skipped.push(b));
          const got = table(r, "skipping failed");
          assertEquals(
            cellKey(rowsOf(got)),
            cellKey(rows.filter((_, k) => k !== i)),
          );
          assertEquals(skipped.map((b) => b.line), [line]);
        } else {
          const r = read(w.text);
          assertEquals(error(r, "a ragged row was accepted").line, line);
        }
        return;
      }
      if (c.kind === "stray") {
        if (rows.length === 0) return;
        const i = c.row % rows.length, j = c.col % t.names.length;
        rows[i]![j] = "ab";
        const w = writeCsv(t.names, rows, opts);
        // Between "a" and "b" of the first "ab" in row i (at worst one in
        // an earlier quoted field: still a misplaced quote on that line).
        const at = w.text.indexOf("ab", w.rowStarts[i]!) + 1;
        const text = w.text.slice(0, at) + '"' + w.text.slice(at);
        const r = read(text);
        assertEquals(
          error(r, "a stray quote was accepted").line,
          lineAt(text, at),
        );
        return;
      }
      if (c.kind === "utf8") {
        const w = writeCsv(t.names, rows, opts);
        const bytes = new TextEncoder().encode(w.text);
        const at = c.at % (bytes.length + 1);
        const bad = new Uint8Array([
          ...bytes.slice(0, at),
          c.byte,
          ...bytes.slice(at),
        ]);
        const r = read(bad);
        const err = error(r, "invalid UTF-8 was accepted");
        let line = 1;
        for (let k = 0; k < at; k++) if (bytes[k] === 0x0a) line++;
        assertEquals(err.line, line);
        return;
      }
      // truncate: rows that had started must all be there (the last may be cut short)
      const w = writeCsv(t.names, rows, opts);
      const at = c.at % (w.text.length + 1);
      const text = w.text.slice(0, at);
      const r = read(text);
      if (r.err) return;
      const got = rowsOf(r.ok!);
      const headerEnd = w.text.length -
        (w.rowStarts.length ? w.text.length - w.rowStarts[0]! : 0);
      if (at < headerEnd || rows.length === 0) {
        assert(got.length <= 1);
        return;
      }
      const started = w.rowStarts.filter((s) => s < at).length;
      assertEquals(got.length, started, "a started row went missing");
      got.forEach((row, k) => {
        const want = rows[k]!;
        if (k < got.length - 1) assertEquals(row, want);
        else {
          row.forEach((f, m) => {
            if (m < row.length - 1) assertEquals(f, want[m]);
            else assert(want[m]!.startsWith(f), "a cut field is not a prefix");
          });
        }
      });
    }),
    { numRuns: 1200 },
  );
});

Deno.test("readCsv() never crashes on random bytes or random hostile text", () => {
  const hostile = fc.string({
    unit: fc.constantFrom(
      '"',
      ",",
      "\n",
      "\r",
      "\t",
      "a",
      "\ufeff",
      " ",
      "\u0000",
    ),
    maxLength: 60,
  });
  fc.assert(
    fc.property(
      fc.oneof(fc.uint8Array({ maxLength: 120 }), hostile),
      (input) => {
        const r = attempt(() => readCsv(input, { source }));
        if (r.ok) {
          const n = r.ok.numRows();
          for (const c of r.ok.columnNames()) {
            assertEquals(
              (r.ok.array(c) as ArrayLike<unknown>).length,
              n,
            );
          }
        }
      },
    ),
    { numRuns: 400 },
  );
});

Deno.test("readJsonl() gives the rows, or an error naming the line, for 300 generated files", () => {
  const row = fc.record({ a: fc.string({ maxLength: 5 }), n: fc.integer() });
  fc.assert(
    fc.property(
      fc.array(row, { minLength: 1, maxLength: 8 }),
      fc.nat(),
      fc.constantFrom("none", "missing", "broken", "blank"),
      (rows, pick, mutation) => {
        const lines = rows.map((r) => JSON.stringify(r));
        const i = pick % lines.length;
        if (mutation === "missing") {
          lines[i] = JSON.stringify({ a: rows[i]!.a });
        }
        if (mutation === "broken") lines[i] = lines[i]!.slice(0, -1);
        if (mutation === "blank") lines.splice(i, 0, "");
        const r = attempt(() =>
          readJsonl(lines.join("\n"), {
            source,
            schema: { a: "string", n: "integer" },
          })
        );
        if (mutation === "none" || mutation === "blank") {
          assertEquals(table(r, "valid JSONL rejected").objects(), rows);
        } else {
          assertEquals(error(r, "a bad JSON line was accepted").line, i + 1);
        }
      },
    ),
    { numRuns: 300 },
  );
});
