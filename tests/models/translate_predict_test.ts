// A translator trained with a checkpoint can be loaded back: evaluating it
// reproduces the test scores of training, predict translates a sentence and
// writes its cross-attention heatmap, for both architectures.

import { assert, assertAlmostEquals, assertEquals } from "@std/assert";
import { loadDataset } from "../../data/mod.ts";
import { trainTranslator } from "../../models/train/translate.ts";
import {
  evaluateTranslator,
  loadTranslator,
  translateText,
} from "../../models/inference.ts";
import { main } from "../../models/cli/predict.ts";

for (const arch of ["transformer", "gru"] as const) {
  Deno.test(`a ${arch} translator checkpoint evaluates and predicts like the trained model`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "heed_tr_predict_" });
    try {
      const d = await loadDataset("tatoeba");
      const data = {
        train: d.train.slice(0, 150),
        valid: d.valid.slice(0, 8),
        test: d.test.slice(0, 12),
      };
      const r = await trainTranslator({
        data,
        arch,
        epochs: 2,
        vocabSize: 200,
        model: {
          dModel: 16,
          heads: 2,
          encLayers: 1,
          decLayers: 1,
          ffHidden: 32,
        },
        validSentences: 8,
        beam: 3,
        warmup: 5,
        checkpoint: { path: `${dir}/checkpoint.safetensors`, resume: false },
      });
      const m = await loadTranslator(`${dir}/checkpoint.safetensors`);
      assertEquals([m.arch, m.metadata.arch], [arch, arch]);
      const s = await evaluateTranslator(m, data, { beam: 3 });
      assertEquals(s.bleu, r.testBleu);
      assertEquals(s.bleuLower, r.testBleuLower);
      assertEquals(s.chrf, r.testChrf);

      const t = await translateText(m, "Ich habe Hunger.");
      assertEquals(t.attention.length, t.targetTokens.length);
      for (const row of t.attention) {
        assertEquals(row.length, t.sourceTokens.length);
        assertAlmostEquals(row.reduce((a, b) => a + b, 0), 1, 1e-4);
      }
      assertEquals(t.sourceTokens.at(-1), "</s>");

      const logs: string[] = [];
      const log = console.log;
      console.log = (...a: unknown[]) => logs.push(a.join(" "));
      try {
        assertEquals(
          await main([
            "--out",
            dir,
            "--beam",
            "2",
            "Ich habe Hunger.",
          ]),
          0,
        );
      } finally {
        console.log = log;
      }
      const svg = await Deno.readTextFile(`${dir}/attention.svg`);
      assert(svg.startsWith("<svg") && svg.includes("cross-attention"), svg);
      assert(logs.some((l) => l.includes("attention.svg")), logs.join("\n"));
      assertEquals(await main(["--out", dir]), 2);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}
