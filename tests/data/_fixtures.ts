/**
 * Test helpers for data/: a reference CSV writer that records where each
 * row starts, and line counting that matches the reader's.
 *
 * @module
 */

/** A CSV text and the character offset where each data row starts. */
export interface Written {
  readonly text: string;
  readonly rowStarts: number[];
}

/** Whether a field must be quoted. */
function needsQuote(
  field: string,
  delimiter: string,
  width: number,
): boolean {
  return field.includes(delimiter) || /["\r\n]/.test(field) ||
    (width === 1 && field === "");
}

/** Writes `names` and `rows` as RFC 4180 text. */
export function writeCsv(
  names: readonly string[],
  rows: readonly (readonly string[])[],
  opts: {
    delimiter?: string;
    eol?: string;
    trailing?: boolean;
    bom?: boolean;
    blankAfter?: ReadonlySet<number>;
  } = {},
): Written {
  const d = opts.delimiter ?? ",";
  const eol = opts.eol ?? "\n";
  const enc = (f: string) =>
    needsQuote(f, d, names.length) ? `"${f.replaceAll('"', '""')}"` : f;
  let text = (opts.bom ? "\ufeff" : "") + names.map(enc).join(d);
  const rowStarts: number[] = [];
  rows.forEach((r, i) => {
    text += eol;
    if (opts.blankAfter?.has(i)) text += eol;
    rowStarts.push(text.length);
    text += r.map(enc).join(d);
  });
  if (opts.trailing ?? true) text += eol;
  return { text, rowStarts };
}

/** The 1-based line of a character offset (LF, CRLF and lone CR end lines). */
export function lineAt(text: string, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset; i++) {
    const c = text[i];
    if (c === "\n" || (c === "\r" && text[i + 1] !== "\n")) line++;
  }
  return line;
}

/** A table's rows as arrays of strings, in column order. */
export function rowsOf(
  table: {
    numRows(): number;
    columnNames(): string[];
    array(c: string): unknown;
  },
): string[][] {
  const cols = table.columnNames().map((c) =>
    Array.from(table.array(c) as ArrayLike<unknown>)
  );
  return Array.from(
    { length: table.numRows() },
    (_, i) => cols.map((vs) => String(vs[i])),
  );
}
