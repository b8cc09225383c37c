/**
 * Scores the three parameter sets a banking77 training checkpoint holds:
 * the last epoch's raw parameters, the best epoch's (what `train` keeps)
 * and, with `--average`, the running weight average. Validation (the 10 %
 * of train that `train` held out with the run's seed) and test accuracy
 * for each, so the averaged and raw weights of one trajectory compare
 * paired, with no second training run.
 *
 * Usage:
 *   deno run -A bench/quality/eval_average.ts RUN_DIR [SEED]
 *
 * @module
 */

import { key, split } from "../../ops/mod.ts";
import { loadDataset, splitTable } from "../../data/mod.ts";
import { evaluateClassifier, loadClassifier } from "../../models/inference.ts";
import { loadFitCheckpoint } from "../../models/train/fit.ts";
import type { ClassifierParams } from "../../models/arch/classifier.ts";

const [dir, seedArg] = Deno.args;
if (!dir) {
  console.error("usage: bench/quality/eval_average.ts RUN_DIR [SEED]");
  Deno.exit(2);
}
const path = `${dir}/checkpoint.safetensors`;
const model = await loadClassifier(path);
const ck = await loadFitCheckpoint<ClassifierParams, unknown, object, unknown>(
  path,
);
const data = await loadDataset("banking77");
// train's hold-out: the first of the seed's four keys splits 90 / 10
const [kSplit] = split(key(Number(seedArg ?? 0)), 4);
const valid = splitTable(data.train, {
  fractions: { train: 0.9, valid: 0.1 },
  key: kSplit!,
}).valid!;
const sets: [string, ClassifierParams | null | undefined][] = [
  ["last", ck.params],
  ["best", ck.best],
  ["average", ck.average?.params],
];
const out: Record<string, unknown> = {
  run: dir,
  epoch: ck.metadata.fit.epoch,
  bestEpoch: ck.metadata.fit.bestEpoch,
  averaging: ck.metadata.fit.average ?? null,
};
for (const [name, params] of sets) {
  if (!params) continue;
  const m = { ...model, params };
  const v = await evaluateClassifier(m, valid);
  const t = await evaluateClassifier(m, data.test);
  out[name] = {
    validAccuracy: v.accuracy,
    testAccuracy: t.accuracy,
    testMacroF1: t.macroF1,
  };
}
console.log(JSON.stringify(out));
