/**
 * `deno task eval`: scores the model trained into `--out` on its test
 * split (the data that `train` recorded in run.json, or `--data`/`--test`).
 *
 * @module
 */

import { runMain } from "./_errors.ts";
import { LabelEncoder, loadDataset, loadLabelledText } from "../../data/mod.ts";
import { evaluateClassifier, evaluateTranslator } from "../inference.ts";
import { classifyData, TEST_FRACTION } from "./_data.ts";
import { dataIdentity } from "../train/validate.ts";
import { start } from "./predict.ts";
import type { LoadedTranslator } from "../inference.ts";
import { decoderPrograms } from "../arch/decoding.ts";

/** The Transformer decodes under jit: how many programs it compiled (bucketed shapes). */
function programs(m: LoadedTranslator): string {
  return m.arch === "transformer"
    ? `, ${decoderPrograms(m.config)} decoding programs`
    : "";
}

/**
 * A path that run.json records, followed only when the file is the one
 * train read (its recorded hash): run.json is untrusted, and a path it names
 * must not make eval read, and quote in an error, any file it likes.
 */
async function recorded(
  out: string,
  path: string,
  hash: string | undefined,
  flag: "--data" | "--test",
): Promise<string> {
  const where = `${out}/run.json records ${flag} ${path}`;
  if (hash === undefined) {
    throw new Error(
      `${where} without its content hash, so heed cannot tell it is what train read; pass ${flag} yourself`,
    );
  }
  const info = await Deno.stat(path).catch(() => null);
  if (info === null || !(info.isFile || info.isDirectory)) {
    throw new Error(`${where}, which is not a file or folder (any more)`);
  }
  if ((await dataIdentity(path)).hash !== hash) {
    throw new Error(
      `${where}, which changed since the run was trained (or run.json was edited); pass ${flag} yourself`,
    );
  }
  return path;
}

/** Runs `eval`; returns the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  const s = await start("eval", argv);
  if (typeof s === "number") return s;
  const { args, trained, run } = s;
  const info = run ?? { task: trained.task };
  const dataPath = async () =>
    args.data ??
      (info.data == null
        ? null
        : await recorded(args.out, info.data, info.dataHash, "--data"));
  const t0 = performance.now();
  if (trained.task === "translate") {
    const data = await dataPath();
    const d = data
      ? await loadDataset("multi30k", { path: data })
      : await loadDataset("tatoeba");
    const r = await evaluateTranslator(trained.model, d, { beam: args.beam });
    console.log(
      `test BLEU ${r.bleu.toFixed(2)} (sacreBLEU default), ${
        r.bleuLower.toFixed(2)
      } (lower-cased), chrF ${r.chrf.toFixed(2)} ` +
        `(${r.sentences} sentences of ${
          data ?? "Tatoeba"
        }, beam ${args.beam}, ${
          ((performance.now() - t0) / 1000).toFixed(0)
        } s${programs(trained.model)})`,
    );
    return 0;
  }
  const test = args.test ??
    (info.test == null
      ? null
      : await recorded(args.out, info.test, info.testHash, "--test"));
  const { labels } = trained.model;
  const columns = {
    textColumn: info.textColumn ?? "text",
    labelColumn: info.labelColumn ?? "category",
  };
  const data = test === null ? await dataPath() : null;
  let rows;
  if (test !== null) {
    // only the model's classes are read, so no training data is needed
    rows = (await loadLabelledText(test, {
      ...columns,
      labels: new LabelEncoder(labels),
    })).table;
  } else if (data !== null) {
    // the test rows are those train held out of the data with its seed
    rows = (await classifyData({
      data,
      test: null,
      valid: null,
      ...columns,
      seed: info.seed ?? 0,
      testFraction: info.testFraction ?? TEST_FRACTION,
      labels,
    })).test;
  } else {
    const bundled = await loadDataset("banking77");
    if (bundled.labels.labels.join("\n") !== labels.join("\n")) {
      throw new Error(
        `the model in ${args.out} has ${labels.length} classes of its own, not banking77's ${bundled.labels.size}; pass its test rows with --test`,
      );
    }
    rows = bundled.test;
  }
  const r = await evaluateClassifier(trained.model, rows);
  console.log(
    `test accuracy ${(100 * r.accuracy).toFixed(2)}%, macro-F1 ${
      (100 * r.macroF1).toFixed(2)
    }% (${r.rows} rows)`,
  );
  return 0;
}

if (import.meta.main) await runMain("eval", main, Deno.args);
