// The data of a classification run: the bundled banking77, or the user's
// labelled files (CSV, TSV or JSONL) read with data/'s loadLabelledText.

import type * as aq from "arquero";
import {
  type ClassificationData,
  DataError,
  LabelEncoder,
  loadDataset,
  loadLabelledText,
  splitTable,
} from "../../data/mod.ts";
import { key } from "../../ops/mod.ts";

/** Where a classifier's data come from (as `train` records it in run.json). */
export interface ClassifySource {
  /** The training file, or null for the bundled banking77. */
  readonly data: string | null;
  /** A test file; without it, 20% of `data` is held out with `seed`. */
  readonly test: string | null;
  /** A validation file, or null. */
  readonly valid: string | null;
  /** The text column. */
  readonly textColumn: string;
  /** The label column. */
  readonly labelColumn: string;
  /** The seed of the held-out test split. */
  readonly seed: number;
  /** The fraction of `data` held out as test without a test file (default {@link TEST_FRACTION}). */
  readonly testFraction?: number;
  /** train: 10% of the training rows will be held out for validation. */
  readonly holdValid?: boolean;
  /** The classes (a trained model's), instead of the training file's. */
  readonly labels?: readonly string[];
}

/** The fraction of `--data` held out as test when there is no `--test`. */
export const TEST_FRACTION = 0.2;

/** Train, test (and validation) tables with `text`, `category` and `label` columns. */
export async function classifyData(
  src: ClassifySource,
): Promise<ClassificationData & { readonly valid?: aq.ColumnTable }> {
  if (src.data === null) return await loadDataset("banking77");
  const columns = {
    textColumn: src.textColumn,
    labelColumn: src.labelColumn,
  };
  const { table, labels } = await loadLabelledText(src.data, {
    ...columns,
    ...(src.labels ? { labels: new LabelEncoder(src.labels) } : {}),
  });
  const other = async (path: string | null) =>
    path === null
      ? undefined
      : (await loadLabelledText(path, { ...columns, labels })).table;
  const [test, valid] = [await other(src.test), await other(src.valid)];
  const fraction = src.testFraction ?? TEST_FRACTION;
  const parts = test ? { train: table, test } : split(
    table,
    { train: 1 - fraction, test: fraction },
    src,
  );
  // train holds out 10% of its rows for early stopping without --valid:
  // too few rows for that is said now, before the run folder is touched
  if (src.holdValid && !valid) {
    split(
      parts.train!,
      { train: 0.9, valid: 0.1 },
      src,
      "after the test rows are held out",
    );
  }
  return {
    train: parts.train!,
    test: parts.test!,
    labels,
    ...(valid ? { valid } : {}),
  };
}

/** splitTable, with "too little data" as a DataError naming the file. */
function split(
  table: aq.ColumnTable,
  fractions: Readonly<Record<string, number>>,
  src: ClassifySource,
  what?: string,
): Record<string, aq.ColumnTable> {
  try {
    return splitTable(table, { fractions, key: key(src.seed) });
  } catch (e) {
    const m = /^splitTable: (too little data): (.*)$/s.exec(
      (e as Error).message,
    );
    if (!(e instanceof RangeError) || m === null) throw e;
    throw new DataError(
      { source: src.data ?? "data" },
      `${m[1]}: ${what === undefined ? "" : `${what}, `}${m[2]}`,
    );
  }
}
