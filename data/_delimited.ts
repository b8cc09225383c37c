/**
 * A delimited-record parser with two quoting rules: RFC 4180 (quoted fields
 * with doubled quotes, embedded delimiters and line breaks; any other quote
 * is an error) and a tolerant rule for TSV, where a quote is literal text
 * unless it opens a well-formed quoted field. CRLF/LF/CR line ends. Linear
 * time, so huge fields and hostile files cannot make it hang.
 *
 * @module
 */

import { DataError } from "./errors.ts";

/** Records and the 1-based line on which each one starts. */
export interface ParsedRecords {
  readonly records: string[][];
  readonly lines: number[];
}

/** How {@link parseRecords} splits text. */
export interface ParseOptions {
  /** The delimiter's char code. */
  readonly delimiter: number;
  /** The quote's char code, or -1 for no quoting at all. */
  readonly quote: number;
  /** The name used in errors. */
  readonly source: string;
  /**
   * `true`: RFC 4180, a quote outside a quoted field is an error. `false`:
   * a field is quoted only when it starts with a quote, every inner quote
   * is doubled, and the closing quote ends the field on the same line;
   * any other field is literal text, quotes included.
   */
  readonly strict: boolean;
  /** Keep a line with no characters as a record of one empty field. */
  readonly keepBlank?: boolean;
}

const LF = 10, CR = 13;

/**
 * Splits `text` into records. A line with no characters at all is a
 * record of one empty field when `keepBlank` is set (right for one-column
 * files) and is passed over otherwise (in wider files it holds no data and
 * could only be a ragged row). A final line break ends the last record.
 * With `strict`, a quote inside an unquoted field, a character after a
 * closing quote, and an unterminated quoted field throw a
 * {@link DataError} naming the line and character position.
 */
export function parseRecords(text: string, opts: ParseOptions): ParsedRecords {
  const { delimiter, quote, source, strict } = opts;
  const records: string[][] = [];
  const lines: number[] = [];
  const n = text.length;
  let i = 0, line = 1, lineStart = 0;
  const where = (at: number) => ({ source, line, column: at - lineStart + 1 });
  const isEnd = (c: number) => c === delimiter || c === LF || c === CR;

  /**
   * The tolerant rule: the value of a well-formed quoted field at `open`
   * that closes on its own line, or `null`. Its end is left in `i`.
   */
  const quotedOnLine = (open: number): string | null => {
    let k = open + 1, start = k;
    let value = "";
    while (k < n) {
      const c = text.charCodeAt(k);
      if (c === LF || c === CR) return null;
      if (c === quote) {
        if (text.charCodeAt(k + 1) === quote) {
          value += text.slice(start, k + 1);
          k += 2;
          start = k;
          continue;
        }
        if (k + 1 < n && !isEnd(text.charCodeAt(k + 1))) return null;
        i = k + 1;
        return value + text.slice(start, k);
      }
      k++;
    }
    return null;
  };

  /** The RFC 4180 rule: the quoted field at `i`, which must be well-formed. */
  const quotedStrict = (): string => {
    const open = where(i);
    i++;
    let start = i;
    const parts: string[] = [];
    for (;;) {
      if (i >= n) {
        throw new DataError(
          open,
          "unterminated quoted field (the file may be truncated, or a quote is not doubled)",
        );
      }
      const c = text.charCodeAt(i);
      if (c === quote) {
        if (text.charCodeAt(i + 1) === quote) {
          parts.push(text.slice(start, i + 1));
          i += 2;
          start = i;
          continue;
        }
        parts.push(text.slice(start, i));
        i++;
        break;
      }
      if (c === LF || (c === CR && text.charCodeAt(i + 1) !== LF)) {
        line++;
        lineStart = i + 1;
      }
      i++;
    }
    if (i < n && !isEnd(text.charCodeAt(i))) {
      throw new DataError(
        where(i),
        `unexpected ${
          JSON.stringify(text[i])
        } after a closing quote (expected a delimiter or a line end)`,
      );
    }
    return parts.length === 1 ? parts[0]! : parts.join("");
  };

  /** A field read up to the next delimiter or line end. */
  const unquoted = (): string => {
    const start = i;
    while (i < n) {
      const c = text.charCodeAt(i);
      if (isEnd(c)) break;
      if (c === quote && strict) {
        throw new DataError(
          where(i),
          "stray quote in an unquoted field (quote the whole field and double the quote)",
        );
      }
      i++;
    }
    return text.slice(start, i);
  };

  while (i < n) {
    const c0 = text.charCodeAt(i);
    if (c0 === LF || c0 === CR) { // a blank line
      if (opts.keepBlank) {
        records.push([""]);
        lines.push(line);
      }
      i += c0 === CR && text.charCodeAt(i + 1) === LF ? 2 : 1;
      line++;
      lineStart = i;
      continue;
    }
    const recordLine = line;
    const fields: string[] = [];
    for (;;) {
      if (i < n && text.charCodeAt(i) === quote) {
        fields.push(strict ? quotedStrict() : quotedOnLine(i) ?? unquoted());
      } else {
        fields.push(unquoted());
      }
      if (i >= n) break;
      const c = text.charCodeAt(i);
      i++;
      if (c === delimiter) continue;
      if (c === CR && text.charCodeAt(i) === LF) i++;
      line++;
      lineStart = i;
      break;
    }
    records.push(fields);
    lines.push(recordLine);
  }
  return { records, lines };
}
