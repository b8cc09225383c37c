/**
 * Deterministic train/valid/test splits, by key or grouped.
 *
 * @module
 */

import type * as aq from "arquero";
import { type Key, permutationIndices } from "../ops/random_key.ts";
import { columnList, type Columns, takeRows, values } from "./_columns.ts";

/** Options for {@link splitTable}. */
export interface SplitOptions<S extends string> {
  /** The share of rows for each split, e.g. `{ train: 0.9, test: 0.1 }`; they must sum to 1. */
  fractions: Readonly<Record<S, number>>;
  /** The PRNG key that decides the split; the same key gives the same split. */
  key: Key;
  /** What the rows are (a file name), for the too-little-data error. */
  source?: string;
  /**
   * Columns whose equal values must land in the same split (for example
   * the source sentence, when one source has several translations), so
   * that duplicates cannot leak from train into test.
   */
  groupBy?: Columns;
}

/**
 * Splits a table into disjoint parts, deterministically: the same table and
 * key always give the same parts, and every row lands in exactly one part.
 * Rows keep their table order inside each part.
 *
 * Without `groupBy`, rows are shuffled with the key and cut at the
 * fractions. With `groupBy`, the distinct groups are sorted, shuffled with
 * the key and handed out in turn until each part has its share of rows; so
 * the result does not depend on the order of the input rows, and sizes
 * are close to (not exactly) the fractions.
 *
 * Too little data is refused before any work: when a part with a positive
 * fraction would get no rows (2 rows split 0.8/0.2, or fewer groups than
 * parts), a `RangeError` names the row count, the split and the part, so a
 * model is never trained or scored on an empty part. {@link splitSizes}
 * gives the sizes ahead of time.
 *
 * @example A grouped split: one English sentence, several translations
 * ```ts
 * import * as aq from "arquero";
 * import { key } from "@heed/heed";
 * import { splitTable } from "@heed/heed/data";
 * import { assertEquals } from "@std/assert";
 *
 * const t = aq.table({ en: ["Hi.", "Hi.", "Go.", "Run!"], de: ["Hallo!", "Grüß Gott!", "Geh.", "Lauf!"] });
 * const { train, test } = splitTable(t, { fractions: { train: 0.5, test: 0.5 }, key: key(0), groupBy: "en" });
 * assertEquals(train.numRows() + test.numRows(), 4);
 * const inTrain = new Set(train.array("en"));
 * assertEquals(test.array("en").filter((en) => inTrain.has(en)), []);
 * ```
 */
export function splitTable<S extends string>(
  table: aq.ColumnTable,
  opts: SplitOptions<S>,
): Record<S, aq.ColumnTable> {
  const names = Object.keys(opts.fractions) as S[];
  const fracs = checkFractions("splitTable", opts.fractions);
  const n = table.numRows();
  let groups: number[][];
  if (opts.groupBy === undefined) {
    tooFew(n, opts.fractions, sizesOf(n, fracs), null, opts.source);
    groups = Array.from({ length: n }, (_, i) => [i]);
  } else {
    const cols = columnList("splitTable", table, opts.groupBy).map((c) =>
      values(table, c)
    );
    const byKey = new Map<string, number[]>();
    for (let i = 0; i < n; i++) {
      const k = JSON.stringify(cols.map((vs) => vs[i]));
      const g = byKey.get(k);
      if (g) g.push(i);
      else byKey.set(k, [i]);
    }
    const sorted = [...byKey.keys()].sort();
    groups = sorted.map((k) => byKey.get(k)!);
  }

  let acc = 0;
  const bounds = fracs.map((f) => Math.round(n * (acc += f)));
  const parts: number[][] = names.map(() => []);
  const perm = permutationIndices(opts.key, groups.length);
  let count = 0, part = 0;
  for (let g = 0; g < perm.length; g++) {
    const rows = groups[perm[g]!]!;
    while (part < names.length - 1 && count >= bounds[part]!) part++;
    for (const r of rows) parts[part]!.push(r);
    count += rows.length;
  }
  if (opts.groupBy !== undefined) {
    const by = typeof opts.groupBy === "string"
      ? opts.groupBy
      : opts.groupBy.join(", ");
    const grouped = { groups: groups.length, by };
    tooFew(n, opts.fractions, parts.map((p) => p.length), grouped, opts.source);
  }
  return Object.fromEntries(
    names.map((name, i) => [
      name,
      takeRows(table, parts[i]!.sort((a, b) => a - b)),
    ]),
  ) as Record<S, aq.ColumnTable>;
}

/**
 * The number of rows each part of an ungrouped {@link splitTable} of `n`
 * rows gets, in the order of `fractions`. Use it to check, before any
 * work, that every part will hold rows.
 *
 * @example
 * ```ts
 * import { splitSizes } from "@heed/heed/data";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(splitSizes(10, { train: 0.8, valid: 0.1, test: 0.1 }), [8, 1, 1]);
 * assertEquals(splitSizes(2, { train: 0.8, test: 0.2 }), [2, 0]); // splitTable refuses this
 * ```
 */
export function splitSizes(
  n: number,
  fractions: Readonly<Record<string, number>>,
): number[] {
  const fracs = checkFractions("splitSizes", fractions);
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new RangeError(
      `splitSizes: the row count must be a non-negative integer, got ${n}`,
    );
  }
  return sizesOf(n, fracs);
}

/** The fractions in key order, checked to be non-negative and sum to 1. */
function checkFractions(
  op: string,
  fractions: Readonly<Record<string, number>>,
): number[] {
  const names = Object.keys(fractions);
  const fracs = names.map((k) => fractions[k]!);
  if (names.length === 0 || fracs.some((f) => !(f >= 0))) {
    throw new RangeError(
      `${op}: fractions must be one or more non-negative numbers`,
    );
  }
  const total = fracs.reduce((a, b) => a + b, 0);
  if (Math.abs(total - 1) > 1e-6) {
    throw new RangeError(
      `${op}: fractions must sum to 1, got ${total} (${
        names.map((k, i) => `${k}: ${fracs[i]}`).join(", ")
      })`,
    );
  }
  return fracs;
}

/** Part sizes: the cuts are at round(n · cumulative fraction). */
function sizesOf(n: number, fracs: readonly number[]): number[] {
  let acc = 0, prev = 0;
  return fracs.map((f) => {
    const bound = Math.round(n * (acc += f));
    const size = bound - prev;
    prev = bound;
    return size;
  });
}

/** The smallest row count at which every part with a share gets a row. */
function fewestRows(fracs: readonly number[]): number {
  for (let m = 1; m <= 1_000_000; m++) {
    if (sizesOf(m, fracs).every((s, i) => s > 0 || fracs[i] === 0)) return m;
  }
  return Infinity;
}

/**
 * Throws a `RangeError` naming the row count and the split when a part
 * with a positive fraction has no rows: training or scoring on an empty
 * part would fail later, or worse, print a meaningless number.
 */
function tooFew(
  n: number,
  fractions: Readonly<Record<string, number>>,
  sizes: readonly number[],
  grouped: { groups: number; by: string } | null,
  source: string | undefined,
): void {
  const names = Object.keys(fractions);
  const empty = names.findIndex((k, i) => fractions[k]! > 0 && sizes[i] === 0);
  if (empty < 0) return;
  const split = names.map((k) => `${k} ${fractions[k]}`).join(", ");
  const rows = `${n} row${n === 1 ? "" : "s"}`;
  const need = fewestRows(Object.values(fractions));
  const hint = grouped
    ? ` (${rows} in ${grouped.groups} group${
      grouped.groups === 1 ? "" : "s"
    } of equal ${grouped.by}; each part needs whole groups)`
    : need === Infinity
    ? ""
    : ` (this split needs at least ${need} row${need === 1 ? "" : "s"})`;
  throw new RangeError(
    `splitTable: too little data${
      source === undefined ? "" : ` in ${source}`
    }: ${rows} cannot be split as ${split}; ${
      names[empty]
    } would get no rows${hint}`,
  );
}
