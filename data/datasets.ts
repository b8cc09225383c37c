/**
 * The default data sets by name: banking77 and Tatoeba German–English are
 * bundled in the repository (not in the JSR package); Multi30k is read from
 * a path because its licence allows research use only.
 *
 * @module
 */

import type * as aq from "arquero";
import { type Key, key as makeKey } from "../ops/random_key.ts";
import { decodeText, readBytes, sourceName } from "./_text.ts";
import { loadTsv, readCsv } from "./csv.ts";
import { DataError } from "./errors.ts";
import { encodeLabels, LabelEncoder } from "./labels.ts";
import { loadParallel } from "./parallel.ts";
import { splitTable } from "./split.ts";

/** What the bundled and known data sets are, with licences and sources. */
export interface DatasetInfo {
  /** `"classification"` or `"translation"`. */
  readonly task: "classification" | "translation";
  /** The licence, as the attribution should read. */
  readonly licence: string;
  /** Where the copy comes from, and whom to cite. */
  readonly source: string;
  /** Whether the repository bundles it under `data/datasets/`. */
  readonly bundled: boolean;
}

/**
 * The data sets {@link loadDataset} knows.
 *
 * @example
 * ```ts
 * import { DATASETS } from "@heed/heed/data";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(DATASETS.multi30k.bundled, false);
 * ```
 */
export const DATASETS: Readonly<Record<DatasetName, DatasetInfo>> = {
  banking77: {
    task: "classification",
    licence: "CC BY 4.0",
    source:
      "Casanueva et al. 2020, Efficient Intent Detection with Dual Sentence Encoders; github.com/PolyAI-LDN/task-specific-datasets (57ec275)",
    bundled: true,
  },
  tatoeba: {
    task: "translation",
    licence: "Tatoeba (tatoeba.org), CC BY 2.0 FR",
    source:
      "github.com/DarrenCarvalho/Language-Translation (a30fc3e), data/deu.txt",
    bundled: true,
  },
  multi30k: {
    task: "translation",
    licence: "non-commercial research and education only (Flickr30K terms)",
    source:
      "Elliott et al. 2016; github.com/multi30k/dataset (a3d2e0d), data/task1/raw",
    bundled: false,
  },
};

/** The names {@link loadDataset} accepts. */
export type DatasetName = "banking77" | "tatoeba" | "multi30k";

/** A classification data set: official splits and the label encoder. */
export interface ClassificationData {
  /** Columns `text`, `category` and `label` (the class id). */
  readonly train: aq.ColumnTable;
  /** The same columns; the official test split. */
  readonly test: aq.ColumnTable;
  /** Class names in id order. */
  readonly labels: LabelEncoder;
}

/** A translation data set with columns named by language (`de`, `en`). */
export interface TranslationData {
  /** Training pairs. */
  readonly train: aq.ColumnTable;
  /** Validation pairs. */
  readonly valid: aq.ColumnTable;
  /** Test pairs. */
  readonly test: aq.ColumnTable;
}

/** Options for {@link loadDataset}. */
export interface DatasetOptions {
  /**
   * The folder that holds the data set's files: for Multi30k (required)
   * the folder with `train.de`, `val.de`, `test_2016_flickr.de` and the
   * `.en` files; for the bundled sets, a replacement for the bundled copy.
   * A local folder under Deno, or an `http(s)` URL anywhere (in a browser a
   * relative path is relative to the page).
   */
  path?: string | URL;
  /** Tatoeba: the key of the grouped split (default `key(0)`). */
  key?: Key;
  /** Tatoeba: split fractions (default `{ train: 0.9, valid: 0.05, test: 0.05 }`). */
  fractions?: Readonly<{ train: number; valid: number; test: number }>;
}

/** The folder of a data set as a URL ending in "/". */
function folder(opts: DatasetOptions, bundled: string): URL {
  const p = opts.path;
  if (p === undefined) {
    return new URL(`./datasets/${bundled}/`, import.meta.url);
  }
  if (p instanceof URL) {
    return new URL(p.href.endsWith("/") ? p.href : p.href + "/");
  }
  const dir = p.endsWith("/") ? p : p + "/";
  if (/^https?:\/\//i.test(p)) return new URL(dir);
  const deno = (globalThis as { Deno?: typeof Deno }).Deno;
  if (deno === undefined) {
    // A browser: a relative folder is relative to the page.
    const page = (globalThis as { location?: { href?: string } }).location;
    return new URL(dir, page?.href ?? "file:///");
  }
  const url = new URL("file:///");
  url.pathname = dir.startsWith("/") ? dir : `${deno.cwd()}/${dir}`;
  return url;
}

async function banking77(opts: DatasetOptions): Promise<ClassificationData> {
  const dir = folder(opts, "banking77");
  const hint = opts.path === undefined
    ? " (the bundled data sets are in heed's repository, not its JSR package; pass { path })"
    : "";
  const catUrl = new URL("categories.json", dir);
  const text = decodeText(await readBytes(catUrl, hint), sourceName(catUrl));
  let names: unknown;
  try {
    names = JSON.parse(text);
  } catch {
    names = null;
  }
  if (!Array.isArray(names) || !names.every((n) => typeof n === "string")) {
    throw new DataError(
      { source: sourceName(catUrl) },
      "expected a JSON array of category names",
    );
  }
  const labels = new LabelEncoder(names);
  const schema = { text: "string", category: "string" } as const;
  const load = async (file: string) => {
    const url = new URL(file, dir);
    const bytes = await readBytes(url, hint);
    const table = readCsv(bytes, { schema, source: sourceName(url) });
    return encodeLabels("category", labels)(table);
  };
  return {
    train: await load("train.csv"),
    test: await load("test.csv"),
    labels,
  };
}

async function tatoeba(opts: DatasetOptions): Promise<TranslationData> {
  const url = new URL("deu.txt", folder(opts, "tatoeba_deu_eng"));
  let table = await loadTsv(url, { header: ["en", "de"] });
  if (table.get("en", 0) === "1" && table.get("de", 0) === "2") {
    table = table.slice(1).reify(); // the spurious header line "1\t2"
  }
  const fractions = opts.fractions ?? { train: 0.9, valid: 0.05, test: 0.05 };
  return splitTable(table, {
    fractions,
    key: opts.key ?? makeKey(0),
    groupBy: "en",
  });
}

async function multi30k(opts: DatasetOptions): Promise<TranslationData> {
  if (opts.path === undefined) {
    throw new DataError(
      { source: "multi30k" },
      "Multi30k is not bundled (its licence allows research use only); pass its folder as { path } (or --data on the command line)",
    );
  }
  const dir = folder(opts, "");
  const pair = (stem: string) =>
    loadParallel({
      de: new URL(`${stem}.de`, dir),
      en: new URL(`${stem}.en`, dir),
    });
  return {
    train: await pair("train"),
    valid: await pair("val"),
    test: await pair("test_2016_flickr"),
  };
}

/**
 * Loads a default data set by name.
 *
 * - `"banking77"`: the official train (10,003) and test (3,080) splits of
 *   77 banking intents, with a `label` column encoded in
 *   `categories.json` order.
 * - `"tatoeba"`: 50,001 English–German pairs (columns `en`, `de`) split
 *   deterministically and grouped by the English side, so no English
 *   sentence is in two splits.
 * - `"multi30k"`: German–English captions (columns `de`, `en`) from
 *   `opts.path`; the official train/val/test2016 splits.
 *
 * @example
 * ```ts
 * import { loadDataset } from "@heed/heed/data";
 * import { assertEquals } from "@std/assert";
 *
 * const { train, test, labels } = await loadDataset("banking77");
 * assertEquals([train.numRows(), test.numRows(), labels.size], [10003, 3080, 77]);
 * assertEquals(labels.decode(train.get("label", 0) as number), train.get("category", 0));
 * ```
 *
 * @example
 * ```ts
 * import { loadDataset } from "@heed/heed/data";
 * import { assertEquals } from "@std/assert";
 *
 * const { train, valid, test } = await loadDataset("tatoeba");
 * assertEquals(train.numRows() + valid.numRows() + test.numRows(), 50001);
 * ```
 */
export function loadDataset(
  name: "banking77",
  opts?: DatasetOptions,
): Promise<ClassificationData>;
/** Loads the Tatoeba German–English pairs with a grouped split. */
export function loadDataset(
  name: "tatoeba" | "multi30k",
  opts?: DatasetOptions,
): Promise<TranslationData>;
/** Loads a default data set by name. */
export function loadDataset(
  name: DatasetName,
  opts?: DatasetOptions,
): Promise<ClassificationData | TranslationData>;
export function loadDataset(
  name: DatasetName,
  opts: DatasetOptions = {},
): Promise<ClassificationData | TranslationData> {
  switch (name) {
    case "banking77":
      return banking77(opts);
    case "tatoeba":
      return tatoeba(opts);
    case "multi30k":
      return multi30k(opts);
  }
  return Promise.reject(
    new RangeError(
      `loadDataset: unknown data set ${JSON.stringify(name)} (known: ${
        Object.keys(DATASETS).join(", ")
      })`,
    ),
  );
}
