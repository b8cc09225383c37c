/**
 * Aligned parallel text (one sentence per line, as Multi30k ships) into
 * Arquero tables.
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
import { DataError } from "./errors.ts";

/** Splits text into lines; one final line break ends the last line. */
function textLines(text: string): string[] {
  const lines = text.split(/\r\n|\n|\r/);
  if (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  return lines;
}

/**
 * Reads aligned parallel text, one sentence per line (as Multi30k ships),
 * into a table with one column per side. The files must have the same
 * number of lines; empty lines are kept (as `""`), so alignment holds.
 *
 * @example
 * ```ts
 * import { readParallel } from "@heed/heed/data";
 * import { assertEquals } from "@std/assert";
 *
 * const t = readParallel({ de: "Hallo!\nGeh.\n", en: "Hi.\nGo.\n" });
 * assertEquals(t.objects(), [{ de: "Hallo!", en: "Hi." }, { de: "Geh.", en: "Go." }]);
 * ```
 */
export function readParallel(
  sides: Readonly<Record<string, TextInput>>,
  opts: { sources?: Readonly<Record<string, string>> } = {},
): aq.ColumnTable {
  const names = Object.keys(sides);
  if (names.length === 0) {
    throw new RangeError("readParallel: give at least one side");
  }
  const columns: Record<string, string[]> = {};
  let first: { name: string; source: string; n: number } | null = null;
  for (const name of names) {
    const source = opts.sources?.[name] ?? `<${name}>`;
    const lines = textLines(decodeText(sides[name]!, source));
    if (lines.length === 0) {
      throw new DataError({ source }, "the file is empty");
    }
    if (first && lines.length !== first.n) {
      throw new DataError(
        { source, line: Math.min(lines.length, first.n) + 1 },
        `parallel files are not aligned: ${first.source} has ${first.n} lines, ${source} has ${lines.length}`,
      );
    }
    first ??= { name, source, n: lines.length };
    columns[name] = lines;
  }
  return aq.table(columns, names);
}

/**
 * Loads aligned parallel text files (paths, URLs, Blobs or bytes), e.g.
 * `loadParallel({ de: "train.de", en: "train.en" })`.
 *
 * @example
 * ```ts
 * import { loadParallel } from "@heed/heed/data";
 * import { assertRejects } from "@std/assert";
 *
 * await assertRejects(() => loadParallel({ de: "/nonexistent/train.de" }), TypeError, "not found");
 * ```
 */
export async function loadParallel(
  paths: Readonly<Record<string, FileSource>>,
): Promise<aq.ColumnTable> {
  const sides: Record<string, Uint8Array> = {};
  const sources: Record<string, string> = {};
  for (const [name, path] of Object.entries(paths)) {
    sides[name] = await readBytes(path);
    sources[name] = sourceName(path);
  }
  return readParallel(sides, { sources });
}
