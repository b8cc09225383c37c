// trainClassifier under jit: the same run as jit: false (training losses,
// validation and test accuracy), with and without padded batch lengths.

import { assert, assertEquals, assertRejects } from "@std/assert";
import * as aq from "arquero";
import { LabelEncoder } from "../../data/mod.ts";
import {
  type ClassifierTrainOptions,
  trainClassifier,
} from "../../models/train/classify.ts";

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
