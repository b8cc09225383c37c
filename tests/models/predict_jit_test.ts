// predictClasses runs its forward under jit: padded batch lengths, one
// program per padded shape kept across calls, and the same classes as the
// unpadded eager forward.

import { assert, assertEquals } from "@std/assert";
import * as aq from "arquero";
import * as h from "../../mod.ts";
import {
  classifierConfig,
  initClassifier,
  type Pooling,
} from "../../models/arch/classifier.ts";
import { predictClasses } from "../../models/inference.ts";
import { jittedForward, paddedInputs } from "../../models/_classify_forward.ts";
import { hostBatches } from "../../data/mod.ts";

/** Rows of lengths 1..23 with random ids, so batches have many lengths. */
function table(n: number): aq.ColumnTable {
  let s = 7;
  const rand = () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
  const ids = Array.from(
    { length: n },
    (_, i) =>
      Int32Array.from(
        { length: 1 + (i * 7) % 23 },
        () => 4 + Math.floor(rand() * 40),
      ),
  );
  return aq.table({ ids });
}

for (const pooling of ["mean", "cls", "attention"] as Pooling[]) {
  Deno.test(`predictClasses under jit equals the unpadded eager forward (${pooling} pooling)`, async () => {
    const config = classifierConfig({
      vocabSize: 48,
      numClasses: 5,
      dModel: 16,
      heads: 2,
      layers: 2,
      maxLen: 23,
      pooling,
    });
    const params = initClassifier(h.key(1), config);
    const t = table(60);
    const eager = await predictClasses({ params, config }, t, {
      batchSize: 8,
      jit: false,
    });
    const jitted = await predictClasses({ params, config }, t, {
      batchSize: 8,
    });
    assertEquals(jitted, eager);
    // the untrained head still spreads its predictions (a test that can fail)
    assert(new Set(eager).size > 1);
    // lengths 1..23 in batches of 8 pad to 8, 16 and 23 (maxLen): few programs,
    // and a second call traces nothing new
    const programs = jittedForward(config).cacheSize;
    assert(programs >= 2 && programs <= 6, `${programs} programs`);
    await predictClasses({ params, config }, t, { batchSize: 8 });
    assertEquals(jittedForward(config).cacheSize, programs);
    h.dispose(params);
  });
}

Deno.test("paddedInputs pads lengths to the multiple with masked pad ids, never past maxLen", async () => {
  const [b] = hostBatches(aq.table({ ids: [[5, 6, 7], [8]] }), "ids");
  const p = paddedInputs(b!, 6, 4);
  assertEquals(p.ids.shape, [2, 4]);
  assertEquals(await p.mask.array(), [
    [true, false, false, false],
    [true, true, true, false],
  ]);
  assertEquals(await p.ids.array(), [[8, 0, 0, 0], [5, 6, 7, 0]]);
  const capped = paddedInputs(b!, 3, 8);
  assertEquals(capped.ids.shape, [2, 3]);
  h.dispose([p.ids, p.mask, capped.ids, capped.mask]);
});

Deno.test("predictClasses refuses a jit option that is not a boolean", async () => {
  const config = classifierConfig({
    vocabSize: 8,
    numClasses: 2,
    dModel: 8,
    heads: 2,
    layers: 1,
  });
  const params = initClassifier(h.key(0), config);
  const t = aq.table({ ids: [Int32Array.of(4, 5)] });
  let err: unknown = null;
  try {
    await predictClasses({ params, config }, t, {
      jit: "yes" as unknown as boolean,
    });
  } catch (e) {
    err = e;
  }
  assert(err instanceof TypeError && /jit must be a boolean/.test(err.message));
  h.dispose(params);
});
