/**
 * JSON, JSON Lines and Arrow IPC into Arquero tables, with the same schema
 * check and error style as the CSV reader.
 *
 * @module
 */

// Arquero reads Arrow with flechette; importing it here makes the version
// pinned in deno.json reach projects that depend on heed (its newest release
// needs a package the npm registry lacks).
import "@uwdata/flechette";
import * as aq from "arquero";
import {
  decodeText,
  type FileSource,
  readBytes,
  sourceName,
  type TextInput,
} from "./_text.ts";
import { type BadRowPolicy, DataError } from "./errors.ts";
import {
  checkJsonValue,
  checkSchema,
  isProblem,
  type Schema,
} from "./schema.ts";

/** Options for the JSON, JSON Lines and Arrow readers. */
export interface JsonOptions {
  /** Required columns and their types. */
  schema?: Schema;
  /** The name used in error messages (the loaders pass the path). */
  source?: string;
  /** What to do with a bad row (default `"error"`). */
  onBadRow?: BadRowPolicy;
}

/** Line of a `JSON.parse` failure, from V8's message, else `fallback`. */
function jsonErrorLine(e: unknown, text: string, fallback: number): number {
  const msg = e instanceof Error ? e.message : "";
  const lc = /line (\d+) column/.exec(msg);
  if (lc) return fallback + Number(lc[1]) - 1;
  const pos = /position (\d+)/.exec(msg);
  if (!pos) return fallback;
  let line = fallback;
  for (let i = 0; i < Number(pos[1]) && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) line++;
  }
  return line;
}

function jsonMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Turns row objects into a table with a fixed key set (ragged = bad). */
function rowsToTable(
  rows: readonly { value: unknown; line: number | null; label: string }[],
  schema: Schema,
  source: string,
  policy: BadRowPolicy,
): aq.ColumnTable {
  let names: string[] | null = null;
  let columns: unknown[][] = [];
  const isRecord = (v: unknown): v is Record<string, unknown> =>
    typeof v === "object" && v !== null && !Array.isArray(v);
  for (const { value, line, label } of rows) {
    let problem: { text: string; column: string | null } | null = null;
    if (!isRecord(value)) {
      problem = {
        text: `${label}: expected an object, got ${
          Array.isArray(value) ? "an array" : JSON.stringify(value)
        }`,
        column: null,
      };
    } else {
      if (names === null) {
        names = [...new Set([...Object.keys(schema), ...Object.keys(value)])];
        columns = names.map(() => []);
      }
      const missing = names.find((k) => !Object.hasOwn(value, k));
      const extra = Object.keys(value).find((k) => !names!.includes(k));
      if (missing !== undefined) {
        problem = { text: `${label}: missing key`, column: missing };
      } else if (extra !== undefined) {
        problem = {
          text: `${label}: unexpected key (the first row has: ${
            names.join(", ")
          })`,
          column: extra,
        };
      } else {
        for (const [k, type] of Object.entries(schema)) {
          const checked = checkJsonValue(value[k], type);
          if (isProblem(checked)) {
            problem = { text: `${label}: ${checked.problem}`, column: k };
            break;
          }
        }
      }
    }
    if (problem) {
      const error = new DataError(
        { source, line, column: problem.column },
        problem.text,
      );
      if (policy === "error") throw error;
      policy({
        source,
        line: line ?? 0,
        fields: [JSON.stringify(value) ?? String(value)],
        error,
      });
      continue;
    }
    const obj = value as Record<string, unknown>;
    names!.forEach((k, i) => columns[i]!.push(obj[k]));
  }
  if (names === null) {
    if (Object.keys(schema).length === 0) {
      throw new DataError({ source }, "the file has no rows");
    }
    names = Object.keys(schema);
    columns = names.map(() => []);
  }
  const cols = names;
  return aq.table(
    Object.fromEntries(cols.map((k, i) => [k, columns[i]!])),
    cols,
  );
}

/**
 * Reads a JSON array of row objects into a table. Every row must have the
 * keys of the first row (plus the schema's), no more and no fewer.
 *
 * @example
 * ```ts
 * import { readJson } from "@heed/heed/data";
 * import { assertEquals } from "@std/assert";
 *
 * const t = readJson('[{"text": "hi", "label": 1}, {"text": "yo", "label": 0}]', {
 *   schema: { text: "string", label: "integer" },
 * });
 * assertEquals(t.array("label"), [1, 0]);
 * ```
 */
export function readJson(
  input: TextInput,
  opts: JsonOptions = {},
): aq.ColumnTable {
  const source = opts.source ?? "<json>";
  const schema = opts.schema ?? {};
  checkSchema("readJson", schema);
  const text = decodeText(input, source);
  if (text.trim() === "") throw new DataError({ source }, "the file is empty");
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new DataError(
      { source, line: jsonErrorLine(e, text, 1) },
      `invalid JSON: ${jsonMessage(e)}`,
    );
  }
  if (!Array.isArray(data)) {
    throw new DataError({ source }, "expected a JSON array of row objects");
  }
  const rows = data.map((value, i) => ({
    value,
    line: null,
    label: `row ${i + 1}`,
  }));
  return rowsToTable(rows, schema, source, opts.onBadRow ?? "error");
}

/**
 * Reads JSON Lines (one object per line; blank lines are passed over) into
 * a table. A line that is not valid JSON is a bad row, named by its line.
 *
 * @example
 * ```ts
 * import { DataError, readJsonl } from "@heed/heed/data";
 * import { assertEquals, assertThrows } from "@std/assert";
 *
 * const t = readJsonl('{"en": "Go."}\n{"en": "Hi."}\n');
 * assertEquals(t.array("en"), ["Go.", "Hi."]);
 * assertThrows(() => readJsonl('{"en": "Go."}\n{"en": \n', { source: "x.jsonl" }), DataError, "x.jsonl:2:");
 * ```
 */
export function readJsonl(
  input: TextInput,
  opts: JsonOptions = {},
): aq.ColumnTable {
  const source = opts.source ?? "<jsonl>";
  const schema = opts.schema ?? {};
  checkSchema("readJsonl", schema);
  const policy = opts.onBadRow ?? "error";
  const text = decodeText(input, source);
  const rows: { value: unknown; line: number; label: string }[] = [];
  text.split(/\r\n|\n|\r/).forEach((raw, i) => {
    if (raw.trim() === "") return;
    try {
      rows.push({ value: JSON.parse(raw), line: i + 1, label: "row" });
    } catch (e) {
      const error = new DataError(
        { source, line: i + 1 },
        `invalid JSON: ${jsonMessage(e)}`,
      );
      if (policy === "error") throw error;
      policy({ source, line: i + 1, fields: [raw], error });
    }
  });
  if (rows.length === 0 && text.trim() === "") {
    throw new DataError({ source }, "the file is empty");
  }
  return rowsToTable(rows, schema, source, policy);
}

/**
 * Reads Arrow IPC bytes (file or stream format) into a table, checking the
 * schema's columns and value types.
 *
 * @example
 * ```ts
 * import * as aq from "arquero";
 * import { readArrow } from "@heed/heed/data";
 * import { assertEquals } from "@std/assert";
 *
 * const bytes = aq.toArrowIPC(aq.table({ text: ["a", "b"], n: [1, 2] }));
 * assertEquals(readArrow(bytes, { schema: { n: "integer" } }).array("n"), [1, 2]);
 * ```
 */
export function readArrow(
  bytes: Uint8Array,
  opts: JsonOptions = {},
): aq.ColumnTable {
  const source = opts.source ?? "<arrow>";
  const schema = opts.schema ?? {};
  checkSchema("readArrow", schema);
  if (bytes.length === 0) throw new DataError({ source }, "the file is empty");
  let table: aq.ColumnTable;
  try {
    table = aq.fromArrow(bytes);
    table.numRows();
  } catch (e) {
    throw new DataError(
      { source },
      `not a valid Arrow IPC file: ${jsonMessage(e)}`,
    );
  }
  const names = table.columnNames();
  for (const [name, type] of Object.entries(schema)) {
    if (!names.includes(name)) {
      throw new DataError(
        { source },
        `missing column ${JSON.stringify(name)} (the file has: ${
          names.join(", ")
        })`,
      );
    }
    const values = table.array(name);
    for (let i = 0; i < values.length; i++) {
      const checked = checkJsonValue(values[i], type);
      if (isProblem(checked)) {
        throw new DataError(
          { source, column: name },
          `row ${i + 1}: ${checked.problem}`,
        );
      }
    }
  }
  return table;
}

/**
 * Loads a JSON file of row objects from a path, URL, Blob or bytes (see
 * {@link readJson}).
 *
 * @example
 * ```ts
 * import { loadJson } from "@heed/heed/data";
 * import { assertRejects } from "@std/assert";
 *
 * await assertRejects(() => loadJson("/nonexistent/rows.json"), TypeError, "/nonexistent/rows.json: file not found");
 * ```
 */
export async function loadJson(
  path: FileSource,
  opts: JsonOptions = {},
): Promise<aq.ColumnTable> {
  return readJson(await readBytes(path), { source: sourceName(path), ...opts });
}

/**
 * Loads a JSON Lines file from a path, URL, Blob or bytes (see
 * {@link readJsonl}).
 *
 * @example
 * ```ts
 * import { loadJsonl } from "@heed/heed/data";
 * import { assertRejects } from "@std/assert";
 *
 * const categories = new URL("./datasets/banking77/categories.json", import.meta.resolve("@heed/heed/data"));
 * await assertRejects(() => loadJsonl(categories), TypeError, "categories.json:1: invalid JSON"); // not JSON Lines
 * ```
 */
export async function loadJsonl(
  path: FileSource,
  opts: JsonOptions = {},
): Promise<aq.ColumnTable> {
  return readJsonl(await readBytes(path), {
    source: sourceName(path),
    ...opts,
  });
}

/**
 * Loads an Arrow IPC file from a path, URL, Blob or bytes (see
 * {@link readArrow}).
 *
 * @example
 * ```ts
 * import { loadArrow } from "@heed/heed/data";
 * import { assertRejects } from "@std/assert";
 *
 * const csv = new URL("./datasets/banking77/test.csv", import.meta.resolve("@heed/heed/data"));
 * await assertRejects(() => loadArrow(csv), TypeError, "not a valid Arrow IPC file");
 * ```
 */
export async function loadArrow(
  path: FileSource,
  opts: JsonOptions = {},
): Promise<aq.ColumnTable> {
  return readArrow(await readBytes(path), {
    source: sourceName(path),
    ...opts,
  });
}
