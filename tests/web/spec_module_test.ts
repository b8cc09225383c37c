// The playground's composition as a model's attention module: the
// classifier builds, runs on padded batches (the model's mask stands in
// for padding()), and its score and gate parameters get gradients.

import { assert, assertEquals, assertThrows } from "@std/assert";
import { crossEntropy, grad, key, tensor } from "../../ops/mod.ts";
import {
  applyClassifier,
  type ClassifierParams,
  initClassifier,
} from "../../models/mod.ts";
import {
  type ComposeState,
  DEFAULT_MODULE,
  DEFAULT_STATE,
} from "../../web/spec.ts";
import { composedModule } from "../../web/spec_module.ts";

const batch = {
  ids: tensor(new Int32Array([4, 5, 6, 0, 7, 8, 0, 0]), { shape: [2, 4] }),
  mask: tensor([[true, true, true, false], [true, true, false, false]]),
  y: tensor(new Int32Array([0, 1])),
};

function config(state: ComposeState) {
  return {
    vocabSize: 10,
    numClasses: 2,
    dModel: 8,
    heads: 2,
    layers: 1,
    maxLen: 8,
    attention: composedModule(state),
  };
}

Deno.test("composedModule() trains in the classifier: gated bilinear and additive get gradients", async () => {
  const state: ComposeState = {
    ...DEFAULT_STATE,
    combine: "gate",
    modules: [
      { ...DEFAULT_MODULE, score: "bilinear", padding: true, alibi: 0.5 },
      { ...DEFAULT_MODULE, score: "additive", causal: true },
    ],
  };
  const c = config(state);
  const params = initClassifier(key(0), c);
  const attn = params.blocks[0]!.attn.spec as {
    scores: { w?: unknown; w1?: unknown }[];
    gate: unknown;
  };
  assert(attn.scores[0]!.w && attn.scores[1]!.w1 && attn.gate);
  const out = applyClassifier(params, batch, { config: c });
  assertEquals(out.logits.shape, [2, 2]);
  // Padding comes from the model's mask: no weight on a padded key.
  const w = await out.weights[0]!.array() as number[][][][];
  for (const head of w[1]!) for (const row of head) assertEquals(row[2], 0);
  const loss = (p: ClassifierParams) =>
    crossEntropy(applyClassifier(p, batch, { config: c }).logits, batch.y);
  const g = grad(loss)(params).blocks[0]!.attn.spec as typeof attn;
  for (
    const t of [g.scores[0]!.w, g.scores[1]!.w1, g.gate] as {
      data(): Promise<ArrayLike<number>>;
    }[]
  ) {
    const d = await t.data();
    assert(Array.from(d).some((x) => x !== 0), "a zero gradient");
  }
});

Deno.test("composedModule() refuses concat, which widens the heads' output", () => {
  const state: ComposeState = {
    ...DEFAULT_STATE,
    combine: "concat",
    modules: [DEFAULT_MODULE, DEFAULT_MODULE],
  };
  assertThrows(() => composedModule(state), RangeError, "mixture or gate");
});
