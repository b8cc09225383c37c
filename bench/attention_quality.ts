/**
 * Compares attention specs on banking77 with the same model, data and
 * budget: test accuracy, macro-F1 and training time per spec.
 *
 *   deno run --allow-read --allow-env bench/attention_quality.ts [--epochs=4] [--specs=a,b]
 *
 * @module
 */

import { loadDataset } from "../data/mod.ts";
import {
  ATTENTION_NAMES,
  type AttentionName,
  checkAttentionName,
  trainClassifier,
} from "../models/mod.ts";
import { defaultBackend } from "../mod.ts";

const args = Object.fromEntries(
  Deno.args.filter((a) => a.startsWith("--")).map((a) =>
    a.slice(2).split("=") as [string, string]
  ),
);
const epochs = Number(args.epochs ?? 4);
const specs: AttentionName[] = args.specs
  ? args.specs.split(",").map(checkAttentionName)
  : ATTENTION_NAMES.filter((n) => n !== "additive" && n !== "sparsemax");
const data = await loadDataset("banking77");
const rows: string[] = [];
for (const spec of specs) {
  const t0 = performance.now();
  const r = await trainClassifier({
    data,
    epochs,
    patience: epochs,
    model: { attention: spec },
  });
  const s = (performance.now() - t0) / 1000;
  const row = `| ${spec} | ${(100 * r.testAccuracy).toFixed(2)}% | ${
    (100 * r.testMacroF1).toFixed(2)
  }% | ${s.toFixed(0)} s |`;
  console.log(row);
  rows.push(row);
}
console.log(
  `\nbanking77, ${epochs} epochs, classifier defaults, backend ${defaultBackend()}, ${
    new Date().toISOString().slice(0, 10)
  }\n`,
);
console.log(
  "| attention | test accuracy | macro-F1 | time |\n|---|---:|---:|---:|\n" +
    rows.join("\n"),
);
