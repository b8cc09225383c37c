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
  const fracs = names.map((n) => opts.fractions[n]);
  if (names.length === 0 || fracs.some((f) => !(f >= 0))) {
    throw new RangeError(
      "splitTable: fractions must be one or more non-negative numbers",
    );
  }
  const total = fracs.reduce((a, b) => a + b, 0);
  if (Math.abs(total - 1) > 1e-6) {
    throw new RangeError(
      `splitTable: fractions must sum to 1, got ${total} (${
        names.map((n, i) => `${n}: ${fracs[i]}`).join(", ")
      })`,
    );
  }
  const n = table.numRows();
  let groups: number[][];
  if (opts.groupBy === undefined) {
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
  return Object.fromEntries(
    names.map((name, i) => [
      name,
      takeRows(table, parts[i]!.sort((a, b) => a - b)),
    ]),
  ) as Record<S, aq.ColumnTable>;
}
