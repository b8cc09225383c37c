/**
 * Train an attention classifier on your own labelled file (CSV, TSV or
 * JSONL with columns `text` and `category`) through heed's public API,
 * then classify a new sentence.
 *
 *   deno run --allow-read --allow-env examples/train_own_csv.ts my_intents.csv "some text"
 *
 * The same from the command line, with your own test file:
 *
 *   deno task train --data my_train.tsv --test my_test.tsv --label-column category --out runs/mine
 *
 * @module
 */

import { loadLabelledText, splitTable } from "../data/mod.ts";
import { key } from "../mod.ts";
import { classifyText, trainClassifier } from "../models/mod.ts";

/** Trains on `path` and returns the test accuracy and a prediction. */
export async function main(
  path: string,
  sentence: string,
  epochs = 5,
): Promise<{ testAccuracy: number; label: string }> {
  const { table, labels } = await loadLabelledText(path, {
    labelColumn: "category",
  });
  const { train, test } = splitTable(table, {
    fractions: { train: 0.8, test: 0.2 },
    key: key(0),
  });
  const result = await trainClassifier({
    data: { train: train!, test: test!, labels },
    model: { dModel: 64, heads: 2, layers: 1 },
    epochs,
    onEpoch: (m) =>
      console.log(
        `epoch ${m.epoch}: valid accuracy ${
          (100 * m.validAccuracy).toFixed(1)
        }%`,
      ),
  });
  console.log(`test accuracy ${(100 * result.testAccuracy).toFixed(1)}%`);
  const { ranked } = await classifyText(
    { ...result, labels: labels.labels },
    sentence,
    { top: 1 },
  );
  const label = ranked[0]!.label;
  console.log(`"${sentence}" → ${label}`);
  return { testAccuracy: result.testAccuracy, label };
}

if (import.meta.main) {
  await main(
    Deno.args[0] ?? "data/datasets/banking77/test.csv",
    Deno.args[1] ?? "where is my card?",
  );
}
