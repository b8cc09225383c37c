/**
 * A user's own labelled text file (CSV, TSV or JSON Lines) as a
 * classification table: `text`, `category` and `label` columns, as the
 * bundled banking77 has.
 *
 * @module
 */

import * as aq from "arquero";
import { checkOptions } from "../ops/_options.ts";
import {
  decodeText,
  type FileSource,
  readBytes,
  sourceName,
  type TextInput,
} from "./_text.ts";
import { readCsvLines } from "./csv.ts";
import { type BadRow, type BadRowPolicy, DataError } from "./errors.ts";
import { LabelEncoder } from "./labels.ts";

/** The file formats {@link loadLabelledText} reads. */
export type LabelledFormat = "csv" | "tsv" | "jsonl";

/** Options for {@link readLabelledText} and {@link loadLabelledText}. */
export interface LabelledTextOptions {
  /** The column (JSON key) that holds the text (default `"text"`). */
  textColumn?: string;
  /** The column (JSON key) that holds the class name (default `"label"`). */
  labelColumn?: string;
  /**
   * The format; by default from the extension: `.csv`; `.tsv` or `.tab`;
   * `.jsonl` or `.ndjson`. {@link readLabelledText} needs it.
   */
  format?: LabelledFormat;
  /**
   * The classes, for a test or validation file: a label that is not one
   * of them is a bad row. Without it the classes are the file's distinct
   * labels, sorted.
   */
  labels?: LabelEncoder;
  /** CSV/TSV without a header row: the column names. */
  header?: readonly string[];
  /** The name used in errors (the loader passes the path). */
  source?: string;
  /** What to do with a bad row (default `"error"`). */
  onBadRow?: BadRowPolicy;
}

/** A labelled file read into a classification table. */
export interface LabelledText {
  /**
   * One row per example, in file order: `text` (string), `category` (the
   * class name) and `label` (its integer id in `labels`).
   */
  readonly table: aq.ColumnTable;
  /** The classes; a class's id is its index. */
  readonly labels: LabelEncoder;
}

const KNOWN = [
  "textColumn",
  "labelColumn",
  "format",
  "labels",
  "header",
  "source",
  "onBadRow",
];

const EXTENSIONS: Readonly<Record<string, LabelledFormat>> = {
  csv: "csv",
  tsv: "tsv",
  tab: "tsv",
  jsonl: "jsonl",
  ndjson: "jsonl",
};

/** A row as read: its line, its raw text and label values. */
interface RawRow {
  readonly line: number;
  readonly text: unknown;
  readonly label: unknown;
  readonly fields: readonly string[];
}

function listed(names: readonly string[]): string {
  const shown = names.slice(0, 8).map((n) => JSON.stringify(n)).join(", ");
  return names.length > 8 ? `${shown}, ... (${names.length} in all)` : shown;
}

/** The format from `opts.format` or the file's extension. */
function formatOf(source: string, format: LabelledFormat | undefined) {
  if (format !== undefined) {
    if (!Object.values(EXTENSIONS).includes(format)) {
      throw new RangeError(
        `loadLabelledText: format must be "csv", "tsv" or "jsonl", got ${
          JSON.stringify(format)
        }`,
      );
    }
    return format;
  }
  const ext = /\.([^./\\]+)$/.exec(source)?.[1]?.toLowerCase();
  const found = ext === undefined ? undefined : EXTENSIONS[ext];
  if (found === undefined) {
    throw new DataError(
      { source },
      `cannot tell the format from the file name (${
        ext === undefined ? "no extension" : `".${ext}"`
      }); name it .csv, .tsv or .jsonl, or pass format "csv", "tsv" or "jsonl"`,
    );
  }
  return found;
}

function delimitedRows(
  text: string,
  format: "csv" | "tsv",
  columns: readonly [string, string],
  opts: LabelledTextOptions,
  source: string,
  onBadRow: (bad: BadRow) => void,
): RawRow[] {
  const { table, lines } = readCsvLines(text, {
    source,
    delimiter: format === "csv" ? "," : "\t",
    strictQuotes: format === "csv",
    schema: { [columns[0]]: "string", [columns[1]]: "string" },
    ...(opts.header ? { header: opts.header } : {}),
    onBadRow,
  });
  const names = table.columnNames();
  const cols = names.map((c) => table.array(c) as ArrayLike<string>);
  const [t, l] = columns.map((c) => names.indexOf(c));
  return lines.map((line, i) => ({
    line,
    text: cols[t!]![i],
    label: cols[l!]![i],
    fields: cols.map((vs) => vs[i]!),
  }));
}

function jsonlRows(
  text: string,
  columns: readonly [string, string],
  source: string,
  onBadRow: (bad: BadRow) => void,
): RawRow[] {
  const rows: RawRow[] = [];
  text.split(/\r\n|\n|\r/).forEach((raw, i) => {
    if (raw.trim() === "") return;
    const line = i + 1;
    let problem: DataError | null = null;
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch (e) {
      problem = new DataError(
        { source, line },
        `invalid JSON: ${e instanceof Error ? e.message : String(e)}`,
      );
    }
    if (!problem) {
      if (typeof value !== "object" || value === null || Array.isArray(value)) {
        problem = new DataError(
          { source, line },
          `expected an object, got ${
            Array.isArray(value) ? "an array" : JSON.stringify(value)
          }`,
        );
      } else {
        const obj = value as Record<string, unknown>;
        const missing = columns.find((c) => !Object.hasOwn(obj, c));
        if (missing === undefined) {
          rows.push({
            line,
            text: obj[columns[0]],
            label: obj[columns[1]],
            fields: [raw],
          });
          return;
        }
        problem = new DataError(
          { source, line, column: missing },
          `missing key (the row has: ${listed(Object.keys(obj))})`,
        );
      }
    }
    onBadRow({ source, line, fields: [raw], error: problem });
  });
  return rows;
}

/** The class name of a raw label value, or why it is not one. */
function labelName(v: unknown): string | { problem: string } {
  if (typeof v === "string") {
    return v.trim() === "" ? { problem: "the label is empty" } : v;
  }
  if (typeof v === "number" && Number.isSafeInteger(v)) return String(v);
  return {
    problem: `expected a label (a string or an integer), got ${
      v === null ? "null" : typeof v === "object" ? "an object" : String(v)
    }`,
  };
}

/**
 * Reads labelled text (see {@link loadLabelledText}) from a string or
 * bytes; `format` is required.
 *
 * @example
 * ```ts
 * import { readLabelledText } from "@heed/heed/data";
 * import { assertEquals } from "@std/assert";
 *
 * const { table, labels } = readLabelledText('{"text": "hi there", "label": "greet"}\n{"text": "bye", "label": "leave"}\n', { format: "jsonl" });
 * assertEquals(table.objects(), [
 *   { text: "hi there", category: "greet", label: 0 },
 *   { text: "bye", category: "leave", label: 1 },
 * ]);
 * assertEquals(labels.labels, ["greet", "leave"]);
 * ```
 */
export function readLabelledText(
  input: TextInput,
  opts: LabelledTextOptions,
): LabelledText {
  checkOptions("readLabelledText", opts, KNOWN);
  const source = opts.source ?? "<labelled text>";
  if (opts.format === undefined) {
    throw new TypeError(
      'readLabelledText: pass format "csv", "tsv" or "jsonl" (loadLabelledText reads it from the extension)',
    );
  }
  const format = formatOf(source, opts.format);
  const columns = [
    opts.textColumn ?? "text",
    opts.labelColumn ?? "label",
  ] as const;
  if (columns[0] === columns[1]) {
    throw new TypeError(
      `readLabelledText: textColumn and labelColumn are both ${
        JSON.stringify(columns[0])
      }`,
    );
  }
  // Bad rows are gathered and reported in file order once all are known,
  // so the first one thrown is the first in the file.
  const bad: BadRow[] = [];
  const collect = (row: BadRow) => void bad.push(row);
  const text = decodeText(input, source);
  const raw = format === "jsonl"
    ? jsonlRows(text, columns, source, collect)
    : delimitedRows(text, format, columns, opts, source, collect);

  const texts: string[] = [], names: string[] = [], lines: number[] = [];
  for (const row of raw) {
    const name = labelName(row.label);
    const problem = typeof row.text !== "string"
      ? {
        column: columns[0],
        text: `expected text (a string), got ${JSON.stringify(row.text)}`,
      }
      : row.text.trim() === ""
      ? { column: columns[0], text: "the text is empty" }
      : typeof name !== "string"
      ? { column: columns[1], text: name.problem }
      : opts.labels && !opts.labels.has(name)
      ? {
        column: columns[1],
        text: `unknown label ${JSON.stringify(name)} (the classes are: ${
          listed(opts.labels.labels)
        })`,
      }
      : null;
    if (problem) {
      const error = new DataError(
        { source, line: row.line, column: problem.column },
        problem.text,
      );
      collect({ source, line: row.line, fields: row.fields, error });
      continue;
    }
    texts.push(row.text as string);
    names.push(name as string);
    lines.push(row.line);
  }
  bad.sort((a, b) => a.line - b.line);
  const policy = opts.onBadRow ?? "error";
  if (policy === "error" && bad.length > 0) throw bad[0]!.error;
  if (policy !== "error") bad.forEach(policy);
  if (texts.length === 0) {
    throw new DataError(
      { source },
      `the file has no labelled rows (columns ${
        JSON.stringify(columns[0])
      } and ${JSON.stringify(columns[1])})`,
    );
  }
  const labels = opts.labels ?? new LabelEncoder([...new Set(names)].sort());
  const table = aq.table({
    text: texts,
    category: names,
    label: names.map((n) => labels.encode(n)),
  });
  return { table, labels };
}

/**
 * Loads a user's labelled text file for classification: CSV (RFC 4180),
 * TSV (literal quotes allowed, see {@link readTsv}) or JSON Lines, chosen
 * by extension or `format`. The text and label are read from
 * `textColumn` and `labelColumn` (other columns are ignored), and the
 * result has the columns `text`, `category` and `label` (the class id),
 * like {@link loadDataset}'s banking77. Every problem is a
 * {@link DataError} naming the file, line and column: a missing column
 * (with the columns present), empty text, an empty label, and, with
 * `labels` from the training file, a label that the training file lacks.
 *
 * @example A training file and a test file with the same classes
 * ```ts
 * import { DataError, loadLabelledText } from "@heed/heed/data";
 * import { assertEquals, assertRejects } from "@std/assert";
 *
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/train.tsv`, 'sentence\tintent\nsay "hi"\tgreet\nbye now\tleave\n');
 * await Deno.writeTextFile(`${dir}/test.csv`, "sentence,intent\nhello,greet\n");
 * const opts = { textColumn: "sentence", labelColumn: "intent" };
 * const train = await loadLabelledText(`${dir}/train.tsv`, opts);
 * const test = await loadLabelledText(`${dir}/test.csv`, { ...opts, labels: train.labels });
 * assertEquals(train.table.array("text"), ['say "hi"', "bye now"]);
 * assertEquals(test.table.array("label"), [0]);
 * await assertRejects(() => loadLabelledText(`${dir}/test.csv`), DataError, 'missing column "text" (the file has: sentence, intent)');
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function loadLabelledText(
  path: FileSource,
  opts: LabelledTextOptions = {},
): Promise<LabelledText> {
  checkOptions("loadLabelledText", opts, KNOWN);
  const source = opts.source ?? sourceName(path);
  const format = formatOf(source, opts.format);
  return readLabelledText(await readBytes(path), { ...opts, source, format });
}
