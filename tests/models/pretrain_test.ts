// Masked-token pretraining of the classifier: it learns (its loss falls on
// a text whose tokens predict each other), it returns parameters the
// classifier takes (every member of an ensemble), and it checks its mask
// rate.

import { assert, assertEquals, assertRejects } from "@std/assert";
import { key, type Tensor, tensor, treeFlatten } from "../../mod.ts";
import type { LabelledBatch } from "../../data/mod.ts";
import {
  classifierConfig,
  initClassifier,
} from "../../models/arch/classifier.ts";
import { pretrainClassifier } from "../../models/train/_pretrain.ts";

const config = classifierConfig({
  vocabSize: 12,
  numClasses: 2,
  dModel: 16,
  heads: 2,
  layers: 1,
  maxLen: 8,
  dropout: 0,
});

/** Rows of "a b a b …" and "c d c d …": a masked token follows from its neighbours. */
function batch(): LabelledBatch {
  const rows = [
    [4, 5, 4, 5, 4, 5],
    [6, 7, 6, 7, 6, 7],
    [5, 4, 5, 4, 5, 0],
    [7, 6, 7, 6, 0, 0],
  ];
  return {
    ids: tensor(rows, { dtype: "int32" }),
    mask: tensor(rows.map((r) => r.map((x) => x !== 0)), { dtype: "bool" }),
    lengths: tensor(rows.map((r) => r.filter((x) => x !== 0).length), {
      dtype: "int32",
    }),
    rows: new Int32Array([0, 1, 2, 3]),
    labels: tensor([0, 1, 0, 1], { dtype: "int32" }),
  };
}

function shapes(tree: unknown): number[][] {
  return treeFlatten(tree)[0].map((l) => [...(l as Tensor).shape]);
}

for (const members of [1, 2]) {
  Deno.test(`pretrainClassifier lowers the masked-token loss and returns classifier parameters (${members} member${members > 1 ? "s" : ""})`, async () => {
    const c = { ...config, members };
    const losses: number[] = [];
    const params = await pretrainClassifier({
      init: () => initClassifier(key(1), c),
      config: c,
      batches: () => Array.from({ length: 8 }, batch),
      stepsPerEpoch: 8,
      epochs: 6,
      maskRate: 0.3,
      lr: 1e-2,
      weightDecay: 0,
      clip: 1,
      key: key(2),
      jit: true,
      onEpoch: (_, loss) => {
        losses.push(loss);
      },
    });
    assertEquals(losses.length, 6);
    assert(
      losses.at(-1)! < 0.5 * losses[0]!,
      `loss fell from ${losses[0]} to ${losses.at(-1)} only`,
    );
    assertEquals(shapes(params), shapes(initClassifier(key(1), c)));
  });
}

Deno.test("pretrainClassifier refuses a mask rate outside (0, 1)", async () => {
  await assertRejects(
    () =>
      pretrainClassifier({
        init: () => initClassifier(key(1), config),
        config,
        batches: () => [batch()],
        stepsPerEpoch: 1,
        epochs: 1,
        maskRate: 1,
        lr: 1e-3,
        weightDecay: 0,
        clip: 1,
        key: key(2),
        jit: false,
      }),
    RangeError,
    "pretrain: maskRate must be in (0, 1), got 1",
  );
});
