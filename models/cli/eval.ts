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
import { start } from "./predict.ts";

/** What `train` recorded in `${out}/run.json` (every field checked), or {}. */
async function recorded(out: string): Promise<Record<string, unknown>> {
  try {
    const run = JSON.parse(await Deno.readTextFile(`${out}/run.json`));
    return typeof run === "object" && run !== null ? run : {};
  } catch {
    return {};
  }
}

const str = (v: unknown): string | null => typeof v === "string" ? v : null;

/** Runs `eval`; returns the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  const s = await start("eval", argv);
  if (typeof s === "number") return s;
  const { args, trained } = s;
  const run = await recorded(args.out);
  const t0 = performance.now();
  if (trained.task === "translate") {
    const data = args.data ?? str(run.data);
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
  const seed = run.seed;
  const d = await classifyData({
    data: args.data ?? str(run.data),
    test: args.test ?? str(run.test),
    valid: null,
    textColumn: str(run.textColumn) ?? "text",
    labelColumn: str(run.labelColumn) ?? "category",
    seed: Number.isSafeInteger(seed) ? seed as number : 0,
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
