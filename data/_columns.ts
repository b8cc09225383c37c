/**
 * Column helpers shared by the pipeline steps.
 *
 * @module
 */

import type * as aq from "arquero";

/** A list of column names, or one name. */
export type Columns = string | readonly string[];

/** The column names as an array, each checked to exist in `table`. */
export function columnList(
  op: string,
  table: aq.ColumnTable,
  columns: Columns,
): string[] {
  const list = typeof columns === "string" ? [columns] : [...columns];
  const names = table.columnNames();
  for (const c of list) {
    if (!names.includes(c)) {
      throw new TypeError(
        `${op}: no column ${JSON.stringify(c)} (the table has: ${
          names.join(", ")
        })`,
      );
    }
  }
  return list;
}

/** A column's values in table order (filters and orderings applied). */
export function values(table: aq.ColumnTable, column: string): unknown[] {
  return Array.from(table.array(column) as ArrayLike<unknown>);
}

/** A column's values, each checked to be a string. */
export function strings(
  op: string,
  table: aq.ColumnTable,
  column: string,
): string[] {
  const vals = values(table, column);
  vals.forEach((v, i) => {
    if (typeof v !== "string") {
      throw new TypeError(
        `${op}: column ${JSON.stringify(column)} row ${i} is ${
          v === null ? "null" : typeof v
        }, expected a string`,
      );
    }
  });
  return vals as string[];
}

/**
 * A new table with `columns` replaced (or added) by `fn` applied to each
 * value; the input table is not changed.
 */
export function mapColumns<T>(
  op: string,
  table: aq.ColumnTable,
  columns: Columns,
  fn: (value: string, row: number) => T,
  rename: (column: string) => string = (c) => c,
): aq.ColumnTable {
  const list = columnList(op, table, columns);
  const base = table.reify();
  const updates: Record<string, T[]> = {};
  for (const c of list) updates[rename(c)] = strings(op, base, c).map(fn);
  return base.assign(updates);
}

/** Picks the rows at `indices` (in that order) as a new table. */
export function takeRows(
  table: aq.ColumnTable,
  indices: ArrayLike<number>,
): aq.ColumnTable {
  const base = table.reify();
  return base.reify(Array.from(indices));
}
