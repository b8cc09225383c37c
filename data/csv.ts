/**
 * CSV and TSV into Arquero tables, with RFC 4180 quoting, a schema check,
 * and errors that name the file, line and column.
 *
 * @module
 */

// Arquero reads Arrow with flechette; importing it here makes the version
// pinned in deno.json reach projects that depend on heed (its newest release
// needs a package the npm registry lacks).
import "@uwdata/flechette";
import * as aq from "arquero";
import { parseRecords } from "./_delimited.ts";
import {
  decodeText,
  type FileSource,
  readBytes,
  sourceName,
  type TextInput,
} from "./_text.ts";
import { type BadRowPolicy, DataError } from "./errors.ts";
import {
  checkSchema,
  convertText,
  isProblem,
  type Schema,
  type SchemaValue,
} from "./schema.ts";

/** Options for {@link readCsv}, {@link readTsv} and the file loaders. */
export interface CsvOptions {
  /** The field separator, one character (`","` for CSV, `"\t"` for TSV). */
  delimiter?: string;
  /** The quote character (default `'"'`); `null` reads quotes literally. */
  quote?: string | null;
  /**
   * How quotes are read. `true` (the default of {@link readCsv}): RFC 4180,
   * where a quote outside a quoted field is an error, and quoted fields may
   * hold line breaks. `false` (the default of {@link readTsv}): a field is
   * quoted only when it starts with a quote, doubles every inner quote and
   * closes on the same line, right before a delimiter or the line end; any
   * other field is literal text, quotes included (`5" tall`).
   */
  strictQuotes?: boolean;
  /**
   * `true` (the default): the first record names the columns. An array:
   * the file has no header row and these are the column names.
   */
  header?: boolean | readonly string[];
  /** Required columns and their types; values are converted and checked. */
  schema?: Schema;
  /** The name used in error messages (the loaders pass the path). */
  source?: string;
  /** What to do with a bad row (default `"error"`); see {@link BadRowPolicy}. */
  onBadRow?: BadRowPolicy;
}

function charCode(op: string, name: string, s: string): number {
  if (s.length !== 1) {
    throw new RangeError(
      `${op}: ${name} must be one character, got ${JSON.stringify(s)}`,
    );
  }
  return s.charCodeAt(0);
}

function listNames(names: readonly string[]): string {
  const shown = names.slice(0, 8).join(", ");
  return names.length > 8 ? `${shown}, ... (${names.length} columns)` : shown;
}

function headerNames(
  records: string[][],
  lines: number[],
  header: boolean | readonly string[],
  source: string,
): { names: string[]; first: number } {
  if (Array.isArray(header)) return { names: [...header], first: 0 };
  if (header === false) {
    const width = records[0]?.length ?? 0;
    return {
      names: Array.from({ length: width }, (_, k) => `c${k}`),
      first: 0,
    };
  }
  const names = records[0]!;
  const seen = new Set<string>();
  names.forEach((name, k) => {
    const where = { source, line: lines[0]!, column: k + 1 };
    if (name.trim() === "") {
      throw new DataError(where, `header field ${k + 1} is empty`);
    }
    if (seen.has(name)) {
      throw new DataError(
        where,
        `duplicate column name ${JSON.stringify(name)} in the header`,
      );
    }
    seen.add(name);
  });
  return { names, first: 1 };
}

/**
 * Reads CSV text (or UTF-8 bytes) into an Arquero table of string columns,
 * or of the types a `schema` asks for.
 *
 * Quoted fields may hold delimiters, doubled quotes and line breaks; CRLF,
 * LF and a leading BOM are accepted. An empty line is a row holding `""`
 * in a one-column file and is passed over in wider files (there it holds
 * no data). Everything else that is wrong throws a {@link DataError}
 * naming `source:line` and the column: invalid UTF-8, an empty file, a
 * stray or unterminated quote (under the default `strictQuotes`; see
 * {@link readTsv} for the tolerant rule), a row with the wrong number of
 * fields, a missing schema column, a value of the wrong type. Pass
 * `onBadRow` a function to skip bad rows instead; it is told about each
 * one.
 *
 * @example Quoted commas, doubled quotes and CRLF line ends
 * ```ts
 * import { readCsv } from "@heed/heed/data";
 * import { assertEquals } from "@std/assert";
 *
 * const csv = 'text,n\r\n"Hi, ""you""",1\r\nbye,2\r\n';
 * const t = readCsv(csv, { schema: { text: "string", n: "integer" } });
 * assertEquals(t.objects(), [{ text: 'Hi, "you"', n: 1 }, { text: "bye", n: 2 }]);
 * ```
 *
 * @example Skipping bad rows, with notice
 * ```ts
 * import { type BadRow, readCsv } from "@heed/heed/data";
 * import { assertEquals } from "@std/assert";
 *
 * const skipped: BadRow[] = [];
 * const t = readCsv("a,b\n1,2\n3\n4,5\n", { onBadRow: (bad) => skipped.push(bad) });
 * assertEquals(t.numRows(), 2);
 * assertEquals(skipped.map((bad) => bad.line), [3]);
 * ```
 */
export function readCsv(
  input: TextInput,
  opts: CsvOptions = {},
): aq.ColumnTable {
  return readCsvLines(input, opts).table;
}

/**
 * {@link readCsv}, with the 1-based line on which each row of the table
 * starts (for loaders that check rows after reading). Internal: not in
 * `mod.ts`.
 */
export function readCsvLines(
  input: TextInput,
  opts: CsvOptions = {},
): { table: aq.ColumnTable; lines: number[] } {
  const source = opts.source ?? "<csv>";
  const delimiter = charCode("readCsv", "delimiter", opts.delimiter ?? ",");
  const quoteOpt = opts.quote === undefined ? '"' : opts.quote;
  const quote = quoteOpt === null ? -1 : charCode("readCsv", "quote", quoteOpt);
  if (quote === delimiter) {
    throw new RangeError("readCsv: quote and delimiter must differ");
  }
  const schema = opts.schema ?? {};
  checkSchema("readCsv", schema);
  const policy = opts.onBadRow ?? "error";

  const text = decodeText(input, source);
  const parse = { delimiter, quote, source, strict: opts.strictQuotes ?? true };
  let { records, lines } = parseRecords(text, parse);
  const header = opts.header ?? true;
  const width = Array.isArray(header) ? header.length : records[0]?.length;
  if (width === 1) {
    // In a one-column file an empty line is a row holding "", not a gap.
    const start = header === true ? lines[0]! : 1;
    ({ records, lines } = parseRecords(text, { ...parse, keepBlank: true }));
    const skip = lines.findIndex((l) => l >= start);
    records = records.slice(skip);
    lines = lines.slice(skip);
  }
  if (records.length === 0) {
    throw new DataError(
      { source },
      "the file is empty (expected a header row and data rows)",
    );
  }
  const { names, first } = headerNames(records, lines, header, source);
  for (const name of Object.keys(schema)) {
    if (!names.includes(name)) {
      throw new DataError(
        { source, line: first === 1 ? lines[0]! : null },
        `missing column ${JSON.stringify(name)} (the file has: ${
          listNames(names)
        })`,
      );
    }
  }

  const typed = names.map((name) => schema[name]);
  const columns: SchemaValue[][] = names.map(() => []);
  const row: SchemaValue[] = new Array(names.length);
  const kept: number[] = [];
  rows: for (let r = first; r < records.length; r++) {
    const fields = records[r]!;
    const line = lines[r]!;
    let error: DataError | null = null;
    if (fields.length !== names.length) {
      error = new DataError(
        { source, line },
        `expected ${names.length} field${names.length === 1 ? "" : "s"} (${
          listNames(names)
        }), got ${fields.length}`,
      );
    } else {
      for (let k = 0; k < names.length; k++) {
        const type = typed[k];
        const value = type ? convertText(fields[k]!, type) : fields[k]!;
        if (isProblem(value)) {
          error = new DataError(
            { source, line, column: names[k]! },
            value.problem,
          );
          break;
        }
        row[k] = value;
      }
    }
    if (error) {
      if (policy === "error") throw error;
      policy({ source, line, fields, error });
      continue rows;
    }
    for (let k = 0; k < names.length; k++) columns[k]!.push(row[k]!);
    kept.push(line);
  }
  const table = aq.table(
    Object.fromEntries(names.map((name, k) => [name, columns[k]!])),
    names,
  );
  return { table, lines: kept };
}

/**
 * Reads tab-separated text: {@link readCsv} with `delimiter: "\t"` and
 * tolerant quoting (`strictQuotes: false`). TSV files in the wild hold
 * literal quotes (`how do they say "who is your father" in german`), and
 * some (Tatoeba's) quote whole fields the RFC 4180 way
 * (`"Say ""aah."""`). Both read as meant: a field that starts with a
 * quote, doubles its inner quotes and closes right before a tab or the
 * line end is unquoted; every other field is taken as it stands. Pass
 * `quote: null` to keep every quote, or `strictQuotes: true` for RFC 4180
 * TSV whose quoted fields span lines.
 *
 * @example Literal and RFC 4180 quotes in one file
 * ```ts
 * import { readTsv } from "@heed/heed/data";
 * import { assertEquals } from "@std/assert";
 *
 * const tsv = 'how do they say "who is your father" in german\tq\n"Say ""aah."""\tSag „Ah!“\n';
 * const t = readTsv(tsv, { header: ["en", "de"] });
 * assertEquals(t.array("en"), ['how do they say "who is your father" in german', 'Say "aah."']);
 * ```
 */
export function readTsv(
  input: TextInput,
  opts: CsvOptions = {},
): aq.ColumnTable {
  return readCsv(input, {
    source: "<tsv>",
    strictQuotes: false,
    ...opts,
    delimiter: "\t",
  });
}

/**
 * Loads a CSV file from a path, URL, Blob or bytes: {@link readCsv} with
 * the source in every error.
 *
 * @example
 * ```ts
 * import { loadCsv } from "@heed/heed/data";
 * import { assertEquals } from "@std/assert";
 *
 * const url = new URL("./datasets/banking77/test.csv", import.meta.resolve("@heed/heed/data"));
 * const t = await loadCsv(url, { schema: { text: "string", category: "string" } });
 * assertEquals(t.numRows(), 3080);
 * ```
 */
export async function loadCsv(
  path: FileSource,
  opts: CsvOptions = {},
): Promise<aq.ColumnTable> {
  const source = opts.source ?? sourceName(path);
  return readCsv(await readBytes(path), { ...opts, source });
}

/**
 * Loads a TSV file from a path, URL, Blob or bytes: {@link readTsv} with
 * the source in every error.
 *
 * @example
 * ```ts
 * import { loadTsv } from "@heed/heed/data";
 * import { assertEquals } from "@std/assert";
 *
 * const url = new URL("./datasets/tatoeba_deu_eng/deu.txt", import.meta.resolve("@heed/heed/data"));
 * const t = await loadTsv(url, { header: ["en", "de"] });
 * assertEquals(t.object(1), { en: "Go.", de: "Geh." }); // row 0 is the spurious "1\t2"
 * ```
 */
export async function loadTsv(
  path: FileSource,
  opts: CsvOptions = {},
): Promise<aq.ColumnTable> {
  const source = opts.source ?? sourceName(path);
  return readTsv(await readBytes(path), { ...opts, source });
}
