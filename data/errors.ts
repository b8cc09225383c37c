/**
 * The error that every loader in `data/` throws for bad input files.
 *
 * @module
 */

/** Where in a file a problem was found. */
export interface DataErrorLocation {
  /** The file name or the `source` label given to an in-memory reader. */
  readonly source: string;
  /** The 1-based line, or `null` when the problem concerns the whole file. */
  readonly line?: number | null;
  /** The column name (or 1-based character position), when known. */
  readonly column?: string | number | null;
}

/**
 * A malformed input file: bad encoding, ragged rows, stray quotes, missing
 * columns, values of the wrong type. It is a `TypeError` (the input has the
 * wrong form) that also carries the file, line and column as fields, and its
 * message starts with `source:line`.
 *
 * @example Catching a ragged row
 * ```ts
 * import { DataError, readCsv } from "@heed/heed/data";
 * import { assert, assertEquals, assertThrows } from "@std/assert";
 *
 * const err = assertThrows(
 *   () => readCsv("a,b\n1,2\n3\n", { source: "toy.csv" }),
 *   DataError,
 * );
 * assert(err.message.startsWith("toy.csv:3:"));
 * assert(err instanceof TypeError);
 * assertEquals([err.line, err.source], [3, "toy.csv"]);
 * ```
 */
export class DataError extends TypeError {
  /** The file name or `source` label. */
  readonly source: string;
  /** The 1-based line, or `null` for whole-file problems. */
  readonly line: number | null;
  /** The column name or 1-based character position, or `null`. */
  readonly column: string | number | null;

  /** Builds the message `source:line: problem` from a location. */
  constructor(where: DataErrorLocation, problem: string) {
    const line = where.line ?? null;
    const column = where.column ?? null;
    const col = typeof column === "number" ? `:${column}` : "";
    const named = typeof column === "string"
      ? `column ${JSON.stringify(column)}: `
      : "";
    super(
      `${where.source}${
        line === null ? "" : `:${line}${col}`
      }: ${named}${problem}`,
    );
    this.name = "DataError";
    this.source = where.source;
    this.line = line;
    this.column = column;
  }
}

/** A row that a reader skipped because the caller asked it to. */
export interface BadRow {
  /** The file name or `source` label. */
  readonly source: string;
  /** The 1-based line where the row starts. */
  readonly line: number;
  /** The raw fields as parsed (or the raw line for JSON Lines). */
  readonly fields: readonly string[];
  /** The error that would have been thrown without a handler. */
  readonly error: DataError;
}

/**
 * What to do with a bad row: `"error"` (the default) throws a
 * {@link DataError}; a function skips the row and is told about it, so no
 * row ever disappears without notice.
 */
export type BadRowPolicy = "error" | ((bad: BadRow) => void);
