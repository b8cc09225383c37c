/**
 * An RFC 4180 record parser: quoted fields with doubled quotes, embedded
 * delimiters and line breaks, CRLF/LF/CR line ends. Linear time, so huge
 * fields and hostile files cannot make it hang.
 *
 * @module
 */

import { DataError } from "./errors.ts";

/** Records and the 1-based line on which each one starts. */
export interface ParsedRecords {
  readonly records: string[][];
  readonly lines: number[];
}

const LF = 10, CR = 13;

/**
 * Splits `text` into records. A line with no characters at all is a
 * record of one empty field when `keepBlank` is set (right for one-column
 * files) and is passed over otherwise (in wider files it holds no data and
 * could only be a ragged row). A final line break ends the last record. A quote
 * inside an unquoted field, a character after a closing quote, and an
 * unterminated quoted field throw a {@link DataError} naming the line and
 * character position. `quote` of -1 turns quoting off.
 */
export function parseRecords(
  text: string,
  delimiter: number,
  quote: number,
  source: string,
  keepBlank = false,
): ParsedRecords {
  const records: string[][] = [];
  const lines: number[] = [];
  const n = text.length;
  let i = 0, line = 1, lineStart = 0;
  const where = (at: number) => ({ source, line, column: at - lineStart + 1 });

  while (i < n) {
    const c0 = text.charCodeAt(i);
    if (c0 === LF || c0 === CR) { // a blank line
      if (keepBlank) {
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
        fields.push(parts.length === 1 ? parts[0]! : parts.join(""));
        if (i < n) {
          const c = text.charCodeAt(i);
          if (c !== delimiter && c !== LF && c !== CR) {
            throw new DataError(
              where(i),
              `unexpected ${
                JSON.stringify(text[i])
              } after a closing quote (expected a delimiter or a line end)`,
            );
          }
        }
      } else {
        const start = i;
        while (i < n) {
          const c = text.charCodeAt(i);
          if (c === delimiter || c === LF || c === CR) break;
          if (c === quote) {
            throw new DataError(
              where(i),
              "stray quote in an unquoted field (quote the whole field and double the quote)",
            );
          }
          i++;
        }
        fields.push(text.slice(start, i));
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
