/**
 * Pipeline steps: each is a function from table to table, so a pipeline is
 * a composition that reads top to bottom (see {@link pipe}).
 *
 * @module
 */

import type * as aq from "arquero";
import { type Key, permutationIndices } from "../ops/random_key.ts";
import {
  columnList,
  type Columns,
  mapColumns,
  takeRows,
  values,
} from "./_columns.ts";

export type { Columns } from "./_columns.ts";

/** One pipeline step: a pure function from table to table. */
export type Step = (table: aq.ColumnTable) => aq.ColumnTable;

/**
 * Composes steps left to right: `pipe(a, b, c)(t)` is `c(b(a(t)))`.
 *
 * @example
 * ```ts
 * import * as aq from "arquero";
 * import { cleanText, dedupe, normalizeText, pipe } from "@heed/heed/data";
 * import { assertEquals } from "@std/assert";
 *
 * const prep = pipe(normalizeText("en", { lower: true }), cleanText("en"), dedupe("en"));
 * const t = prep(aq.table({ en: ["Hi  there", "hi there ", "Bye"] }));
 * assertEquals(t.array("en"), ["hi there", "bye"]);
 * ```
 */
export function pipe(...steps: readonly Step[]): Step {
  return (table) => steps.reduce((t, step) => step(t), table);
}

/** Options for {@link normalizeText}. */
export interface NormalizeOptions {
  /** The Unicode normal form (default `"NFC"`). */
  form?: "NFC" | "NFD" | "NFKC" | "NFKD";
  /** Lower-case the text (locale-independent; default `false`). */
  lower?: boolean;
}

/**
 * Unicode normalisation (NFC by default) and optional lower-casing of text
 * columns.
 *
 * @example
 * ```ts
 * import * as aq from "arquero";
 * import { normalizeText } from "@heed/heed/data";
 * import { assertEquals } from "@std/assert";
 *
 * const t = normalizeText("de", { lower: true })(aq.table({ de: ["Gru\u0308ß"] }));
 * assertEquals(t.array("de"), ["grüß"]); // "u" + combining diaeresis became "ü"
 * ```
 */
export function normalizeText(
  columns: Columns,
  opts: NormalizeOptions = {},
): Step {
  const form = opts.form ?? "NFC";
  const lower = opts.lower ?? false;
  const fn = lower
    ? (s: string) => s.toLowerCase().normalize(form)
    : (s: string) => s.normalize(form);
  return (t) => mapColumns("normalizeText", t, columns, fn);
}

/** Options for {@link cleanText}. */
export interface CleanOptions {
  /**
   * `"keep"` (default) leaves punctuation alone; `"ascii"` maps typographic
   * quotes, dashes and the ellipsis to ASCII; `"strip"` removes punctuation.
   */
  punctuation?: "keep" | "ascii" | "strip";
}

const INVISIBLE = /[\u00ad\u200b-\u200d\u2060\ufeff]/gu;
const CONTROL = /[\p{Cc}\p{Zl}\p{Zp}]/gu;
const SPACES = /\s+/gu;
const ASCII_PUNCT: ReadonlyArray<readonly [RegExp, string]> = [
  [/[\u2018\u2019\u201a\u201b\u2032]/gu, "'"],
  [/[\u201c\u201d\u201e\u201f\u2033]/gu, '"'],
  [/[\u2010-\u2015\u2212]/gu, "-"],
  [/\u2026/gu, "..."],
];
const PUNCT = /\p{P}/gu;

/**
 * A pure string version of {@link cleanText}: removes invisible characters
 * (soft hyphen, zero-width spaces, BOM), turns control characters into
 * spaces, applies the punctuation option, collapses whitespace runs to one
 * space and trims.
 *
 * @example
 * ```ts
 * import { cleanString } from "@heed/heed/data";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(cleanString(" „Wen\u200b kümmert’s?“\t–  ", { punctuation: "ascii" }), "\"Wen kümmert's?\" -");
 * ```
 */
export function cleanString(text: string, opts: CleanOptions = {}): string {
  let s = text.replace(INVISIBLE, "").replace(CONTROL, " ");
  const punctuation = opts.punctuation ?? "keep";
  if (punctuation === "ascii") {
    for (const [re, to] of ASCII_PUNCT) s = s.replace(re, to);
  } else if (punctuation === "strip") {
    s = s.replace(PUNCT, " ");
  }
  return s.replace(SPACES, " ").trim();
}

/**
 * Whitespace and punctuation cleanup of text columns (see
 * {@link cleanString}).
 *
 * @example
 * ```ts
 * import * as aq from "arquero";
 * import { cleanText } from "@heed/heed/data";
 * import { assertEquals } from "@std/assert";
 *
 * const t = cleanText("text", { punctuation: "strip" })(aq.table({ text: ["  Hi, you!\n"] }));
 * assertEquals(t.array("text"), ["Hi you"]);
 * ```
 */
export function cleanText(columns: Columns, opts: CleanOptions = {}): Step {
  return (t) =>
    mapColumns("cleanText", t, columns, (s) => cleanString(s, opts));
}

/**
 * Removes rows whose values in `columns` (default: all columns) repeat an
 * earlier row's; the first occurrence stays, in table order.
 *
 * @example
 * ```ts
 * import * as aq from "arquero";
 * import { dedupe } from "@heed/heed/data";
 * import { assertEquals } from "@std/assert";
 *
 * const t = aq.table({ en: ["Hi.", "Hi.", "Go."], de: ["Hallo!", "Grüß Gott!", "Geh."] });
 * assertEquals(dedupe("en")(t).array("de"), ["Hallo!", "Geh."]);
 * assertEquals(dedupe()(t).numRows(), 3);
 * ```
 */
export function dedupe(columns?: Columns): Step {
  return (t) => {
    const list = columns === undefined
      ? t.columnNames()
      : columnList("dedupe", t, columns);
    const seen = new Set<string>();
    const cols = list.map((c) => values(t, c));
    const keep: number[] = [];
    for (let i = 0; i < t.numRows(); i++) {
      const k = JSON.stringify(cols.map((vs) => vs[i]));
      if (!seen.has(k)) {
        seen.add(k);
        keep.push(i);
      }
    }
    return takeRows(t, keep);
  };
}

/** Options for {@link filterLength}. */
export interface LengthOptions {
  /** Keep rows with at least this length (inclusive; default 0). */
  min?: number;
  /** Keep rows with at most this length (inclusive; default no limit). */
  max?: number;
  /**
   * How to measure a string: `"chars"` (code points, the default),
   * `"words"` (whitespace-separated) or a function. Arrays and typed
   * arrays (token ids) are measured by their length.
   */
  by?: "chars" | "words" | ((text: string) => number);
}

function measure(
  v: unknown,
  by: LengthOptions["by"],
  column: string,
  row: number,
): number {
  if (typeof v === "string") {
    if (typeof by === "function") return by(v);
    if (by === "words") {
      const s = v.trim();
      return s === "" ? 0 : s.split(/\s+/u).length;
    }
    let n = 0;
    for (const _ of v) n++;
    return n;
  }
  if (Array.isArray(v) || ArrayBuffer.isView(v)) {
    return (v as ArrayLike<unknown>).length;
  }
  throw new TypeError(
    `filterLength: column ${JSON.stringify(column)} row ${row} is ${
      v === null ? "null" : typeof v
    }, expected a string or an array`,
  );
}

/**
 * Keeps the rows whose every named column has a length in `[min, max]`.
 *
 * @example
 * ```ts
 * import * as aq from "arquero";
 * import { filterLength } from "@heed/heed/data";
 * import { assertEquals } from "@std/assert";
 *
 * const t = aq.table({ en: ["Go.", "", "A very long sentence indeed."] });
 * assertEquals(filterLength("en", { min: 1, max: 3, by: "words" })(t).array("en"), ["Go."]);
 * ```
 */
export function filterLength(columns: Columns, opts: LengthOptions): Step {
  const min = opts.min ?? 0;
  const max = opts.max ?? Infinity;
  if (!(min >= 0) || !(max >= min)) {
    throw new RangeError(
      `filterLength: need 0 <= min <= max, got min ${min}, max ${max}`,
    );
  }
  return (t) => {
    const list = columnList("filterLength", t, columns);
    const cols = list.map((c) => values(t, c));
    const keep: number[] = [];
    for (let i = 0; i < t.numRows(); i++) {
      const ok = cols.every((vs, k) => {
        const n = measure(vs[i], opts.by, list[k]!, i);
        return n >= min && n <= max;
      });
      if (ok) keep.push(i);
    }
    return takeRows(t, keep);
  };
}

/**
 * Shuffles the rows with a heed PRNG key: the same key gives the same
 * order.
 *
 * @example
 * ```ts
 * import * as aq from "arquero";
 * import { key } from "@heed/heed/ops";
 * import { shuffleRows } from "@heed/heed/data";
 * import { assertEquals } from "@std/assert";
 *
 * const t = aq.table({ x: [1, 2, 3, 4, 5] });
 * const a = shuffleRows(key(7))(t).array("x");
 * assertEquals(a, shuffleRows(key(7))(t).array("x"));
 * assertEquals([...a].sort(), [1, 2, 3, 4, 5]);
 * ```
 */
export function shuffleRows(k: Key): Step {
  return (t) => takeRows(t, permutationIndices(k, t.numRows()));
}
