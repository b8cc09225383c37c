// A translation run stopped after its first epoch and resumed from the
// checkpoint reaches the same parameters, history and scores as a run that
// was never stopped; a checkpoint of another kind or configuration is refused.

import { assertEquals, assertRejects } from "@std/assert";
import { loadDataset } from "../../data/mod.ts";
import {
  trainTranslator,
  type TranslatorTrainOptions,
} from "../../models/train/translate.ts";
import { checkpointLeaves } from "./_leaves.ts";

for (const arch of ["transformer", "gru"] as const) {
  Deno.test(`trainTranslator (${arch}) resumes to the same parameters`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "heed_tr_resume_" });
    try {
      const d = await loadDataset("tatoeba");
      const base: TranslatorTrainOptions = {
        data: {
          train: d.train.slice(0, 120),
          valid: d.valid.slice(0, 8),
          test: d.test.slice(0, 8),
        },
        arch,
        vocabSize: 200,
        model: {
          dModel: 16,
          heads: 2,
          encLayers: 1,
          decLayers: 1,
          ffHidden: 32,
        },
        validSentences: 8,
        beam: 2,
        warmup: 5,
        maxTokens: 1024,
      };
      const a = await trainTranslator({
        ...base,
        epochs: 2,
        checkpoint: { path: `${dir}/a.safetensors`, resume: false },
      });
      await trainTranslator({
        ...base,
        epochs: 1,
        checkpoint: { path: `${dir}/b.safetensors`, resume: false },
      });
      const b = await trainTranslator({
        ...base,
        epochs: 2,
        checkpoint: { path: `${dir}/b.safetensors`, resume: true },
      });
      const [la, lb] = await Promise.all([
        checkpointLeaves(`${dir}/a.safetensors`),
        checkpointLeaves(`${dir}/b.safetensors`),
      ]);
      assertEquals(la.length, lb.length);
      la.forEach((x, i) => assertEquals(lb[i], x, `leaf ${i} differs`));
      assertEquals(
        b.history.map((m) => [m.epoch, m.loss, m.validBleu]),
        a.history.map((m) => [m.epoch, m.loss, m.validBleu]),
      );
      assertEquals(b.testBleu, a.testBleu);
      // Another configuration or architecture cannot resume from it.
      await assertRejects(
        () =>
          trainTranslator({
            ...base,
            arch: arch === "gru" ? "transformer" : "gru",
            epochs: 3,
            checkpoint: { path: `${dir}/b.safetensors`, resume: true },
          }),
        RangeError,
        "another configuration",
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

Deno.test("trainTranslator refuses to resume from a classifier checkpoint", async () => {
  const dir = await Deno.makeTempDir({ prefix: "heed_tr_resume_" });
  try {
    const { saveCheckpoint } = await import("../../models/train/checkpoint.ts");
    const { zeros } = await import("../../mod.ts");
    await saveCheckpoint(`${dir}/c.safetensors`, {
      params: { w: zeros([2]) },
      metadata: { epoch: 1 },
    });
    const d = await loadDataset("tatoeba");
    await assertRejects(
      () =>
        trainTranslator({
          data: {
            train: d.train.slice(0, 20),
            valid: d.valid.slice(0, 2),
            test: d.test.slice(0, 2),
          },
          checkpoint: { path: `${dir}/c.safetensors`, resume: true },
        }),
      RangeError,
      "not a translation checkpoint",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
