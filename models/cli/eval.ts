/**
 * `deno task eval`: scores the model trained into `--out` on its test
 * split (the data that `train` recorded in run.json, or `--data`/`--test`).
 *
 * @module
 */

import { runMain } from "./_errors.ts";
import { loadDataset } from "../../data/mod.ts";
import { evaluateClassifier, evaluateTranslator } from "../inference.ts";
import { classifyData, TEST_FRACTION } from "./_data.ts";
import { dataIdentity } from "../train/validate.ts";
import { readRunJson } from "../train/run_dir.ts";
import { start } from "./predict.ts";

/** Runs `eval`; returns the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  const s = await start("eval", argv);
  if (typeof s === "number") return s;
  const { args, trained } = s;
  // run.json is untrusted input: every field is checked as it is read.
  const run = await readRunJson(args.out) ?? { task: trained.task };
  const t0 = performance.now();
  if (trained.task === "translate") {
    const data = args.data ?? run.data ?? null;
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
        } s)`,
    );
    return 0;
  }
  const data = args.data ?? run.data ?? null;
  const test = args.test ?? run.test ?? null;
  // Without a test file, the test rows are those train held out of the data
  // with its seed: the same only if the data are the same.
  if (test === null && data !== null && run.dataHash !== undefined) {
    const now = await dataIdentity(data);
    if (now.hash !== run.dataHash) {
      throw new Error(
        `${data} changed since the run was trained (its test rows were held out of the old content); pass the test rows with --test`,
      );
    }
  }
  const d = await classifyData({
    data,
    test,
    valid: null,
    textColumn: run.textColumn ?? "text",
    labelColumn: run.labelColumn ?? "category",
    seed: run.seed ?? 0,
    testFraction: run.testFraction ?? TEST_FRACTION,
    labels: trained.model.labels,
  });
  const r = await evaluateClassifier(trained.model, d.test);
  console.log(
    `test accuracy ${(100 * r.accuracy).toFixed(2)}%, macro-F1 ${
      (100 * r.macroF1).toFixed(2)
    }% (${r.rows} rows)`,
  );
  return 0;
}

if (import.meta.main) await runMain("eval", main, Deno.args);
