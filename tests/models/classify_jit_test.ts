// trainClassifier under jit: the same run as jit: false (training losses,
// validation and test accuracy), with and without padded batch lengths; an
// ensemble's step planned member by member.

import { assert, assertEquals, assertRejects } from "@std/assert";
import * as aq from "arquero";
import { LabelEncoder } from "../../data/mod.ts";
import {
  type ClassifierTrainOptions,
  trainClassifier,
} from "../../models/train/classify.ts";
import {
  applyClassifier,
  classifierConfig,
  initClassifier,
} from "../../models/arch/classifier.ts";
import {
  add,
  crossEntropy,
  type Key,
  key,
  makeProgram,
  optimizeProgram,
  reshape,
  type Tensor,
  tensor,
  valueAndGrad,
} from "../../ops/mod.ts";
import { fuseProgram } from "../../ops/jit/passes/fuse.ts";
import { orderSteps, peakBytes } from "../../ops/jit/passes/_order.ts";
import type { Step } from "../../ops/jit/plan.ts";

const GREET = [
  "hello there",
  "hi",
  "hi there my good friend",
  "good morning to you all",
  "hey",
];
const LEAVE = [
  "bye",
  "see you later",
  "bye then my friend",
  "good night",
  "farewell and see you soon",
];
const ROWS = [
  ...GREET.map((t) => [t, 0]),
  ...LEAVE.map((t) => [t, 1]),
] as const;

function table(n: number, offset = 0) {
  const rows = Array.from(
    { length: n },
    (_, i) => ROWS[(i + offset) % ROWS.length]!,
  );
  return aq.table({
    text: rows.map((r) => r[0]),
    label: rows.map((r) => r[1]),
  });
}

function options(
  extra: Partial<ClassifierTrainOptions>,
): ClassifierTrainOptions {
  return {
    data: {
      train: table(30),
      test: table(10, 3),
      labels: new LabelEncoder(["greet", "leave"]),
    },
    valid: table(10, 1),
    model: { dModel: 16, heads: 2, layers: 1 },
    epochs: 2,
    batchSize: 8,
    lr: 1e-2,
    ...extra,
  };
}

for (const padMultiple of [1, 4]) {
  Deno.test(`trainClassifier under jit equals jit: false (padMultiple ${padMultiple})`, async () => {
    const eager = await trainClassifier(options({ jit: false, padMultiple }));
    const jitted = await trainClassifier(options({ padMultiple }));
    const strip = (r: typeof eager) =>
      r.history.map((e) => [e.loss, e.validAccuracy]);
    assertEquals(strip(jitted), strip(eager));
    assertEquals(
      [jitted.testAccuracy, jitted.testMacroF1],
      [eager.testAccuracy, eager.testMacroF1],
    );
    assert(eager.history.every((e) => Number.isFinite(e.loss)));
  });
}

Deno.test("trainClassifier refuses a padMultiple that is not a positive integer", async () => {
  await assertRejects(
    () => trainClassifier(options({ padMultiple: 0 })),
    RangeError,
    "padMultiple must be a positive integer, got 0",
  );
});

Deno.test("an ensemble's training step is planned member by member: its planned peak is well under the program order's", () => {
  // Three Transformers and a bag member, the sum of their cross-entropies.
  // Their losses share the labels (a validity mask, a one-hot), which must
  // not tie every member's backward pass to every member's forward pass.
  const words = Array.from({ length: 60 }, (_, i) => `w${i}`);
  const config = classifierConfig({
    vocabSize: 60,
    numClasses: 7,
    dModel: 16,
    maxLen: 16,
    members: 3,
    bag: 50,
    words,
  });
  const params = initClassifier(key(0), config);
  const [b, t] = [8, 12];
  const ids = reshape(
    tensor(Int32Array.from({ length: b * t }, (_, i) => (i * 37) % 60)),
    [b, t],
  );
  const mask = reshape(tensor(new Int32Array(b * t).fill(1)), [b, t]);
  const labels = tensor(Int32Array.from({ length: b }, (_, i) => i % 7));
  type In = { ids: Tensor; mask: Tensor; labels: Tensor };
  const loss = (p: typeof params, x: In, k: Key) =>
    applyClassifier(p, x, { config, training: true, key: k }).members
      .map((l) => crossEntropy(l, x.labels, { labelSmoothing: 0.1 }))
      .reduce((s, l) => add(s, l));
  const { program } = makeProgram((p: typeof params, x: In, k: Key) =>
    valueAndGrad(loss)(p, x, k)
  )(params, { ids, mask, labels }, key(1));
  const p = optimizeProgram(program);
  const plan = fuseProgram(p);
  const first = new Map(p.eqns.map((e, i) => [e, i]));
  const at = (s: Step) => first.get(s.kind === "eqn" ? s.eqn : s.eqns[0]!)!;
  const inOrder = orderSteps(p, [...plan.steps].sort((x, y) => at(x) - at(y)));
  const planned = peakBytes(p, plan.steps), plain = peakBytes(p, inOrder);
  assert(planned < 0.6 * plain, `planned ${planned} vs ${plain} bytes`);
});
