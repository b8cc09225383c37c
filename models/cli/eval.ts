/**
 * `deno task eval`: scores the model trained into `--out` on its test
 * split (the data that `train` recorded in run.json, or `--data`/`--test`).
 *
 * @module
 */

import { runMain } from "./_errors.ts";
import { loadDataset } from "../../data/mod.ts";
import { evaluateClassifier, evaluateTranslator } from "../inference.ts";
import { classifyData } from "./_data.ts";
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
  const d = await classifyData({
    data: args.data ?? run.data ?? null,
    test: args.test ?? run.test ?? null,
    valid: null,
    textColumn: run.textColumn ?? "text",
    labelColumn: run.labelColumn ?? "category",
    seed: run.seed ?? 0,
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
