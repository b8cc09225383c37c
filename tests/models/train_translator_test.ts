// End to end on a slice of the bundled Tatoeba pairs: both architectures
// train an epoch, decode the test split and report BLEU and chrF.

import { assert, assertEquals } from "@std/assert";
import { loadDataset } from "../../data/mod.ts";
import { trainTranslator } from "../../models/train/translate.ts";

for (const arch of ["transformer", "gru"] as const) {
  Deno.test(`trainTranslator (${arch}) trains, decodes and scores on Tatoeba`, async () => {
    const d = await loadDataset("tatoeba");
    const data = {
      train: d.train.slice(0, 400),
      valid: d.valid.slice(0, 20),
      test: d.test.slice(0, 20),
    };
    const epochs: number[] = [];
    const progress: (number | null)[] = [];
    const r = await trainTranslator({
      data,
      arch,
      epochs: 2,
      vocabSize: 300,
      model: { dModel: 32, heads: 2, encLayers: 1, decLayers: 1, ffHidden: 64 },
      validSentences: 20,
      beam: 2,
      warmup: 10,
      onStep: (p) => {
        if (p.epoch === 1) progress.push(p.loss);
      },
      onEpoch: (m) => {
        epochs.push(m.epoch);
        assert(Number.isFinite(m.loss) && m.loss > 0, `loss ${m.loss}`);
      },
    });
    assertEquals(epochs, [1, 2]);
    // The progress bar's loss is read at the first step, then once a second.
    const first = progress[0] ?? null;
    assert(first !== null && Number.isFinite(first) && first > 0, `${first}`);
    assert(r.history[1]!.loss < r.history[0]!.loss, "the loss falls");
    for (const v of [r.testBleu, r.testBleuLower, r.testChrf]) {
      assert(v >= 0 && v <= 100, `score ${v}`);
    }
  });
}
