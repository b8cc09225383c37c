/**
 * Train an attention classifier on your own CSV (columns `text` and
 * `category`) through heed's public API, then classify a new sentence.
 *
 *   deno run --allow-read --allow-env examples/train_own_csv.ts my_intents.csv "some text"
 *
 * @module
 */

import {
  encodeLabels,
  LabelEncoder,
  loadCsv,
  splitTable,
} from "../data/mod.ts";
import { key } from "../mod.ts";
import { trainClassifier } from "../models/mod.ts";

/** Trains on `path` and returns the test accuracy and a prediction. */
export async function main(path: string, sentence: string, epochs = 5) {
  const table = await loadCsv(path, {
    schema: { text: "string", category: "string" },
  });
  const labels = LabelEncoder.fit(table, "category");
  const { train, test } = splitTable(encodeLabels("category", labels)(table), {
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
  const { predictText } = await import("../models/cli/predict.ts");
  const label = await predictText(result, sentence);
  console.log(`"${sentence}" → ${label}`);
  return { testAccuracy: result.testAccuracy, label };
}

if (import.meta.main) {
  await main(
    Deno.args[0] ?? "data/datasets/banking77/test.csv",
    Deno.args[1] ?? "where is my card?",
  );
}
