import * as aq from "arquero";
import fc from "fast-check";
import {
  assert,
  assertEquals,
  assertNotEquals,
  assertThrows,
} from "@std/assert";
import { foldIn, key } from "../../ops/random_key.ts";
import {
  BOS_ID,
  EOS_ID,
  hostBatches,
  hostTranslationBatches,
  PAD_ID,
  type Padded,
} from "../../data/mod.ts";

const seqArb = fc.array(fc.integer({ min: 4, max: 50 }), { maxLength: 12 });
const tableArb = fc.array(seqArb, { minLength: 1, maxLength: 80 }).map((seqs) =>
  aq.table({ ids: seqs.map((s) => Int32Array.from(s)) })
);
const optsArb = fc.record({
  batchSize: fc.integer({ min: 1, max: 16 }),
  seed: fc.option(fc.integer(), { nil: undefined }),
  maxTokens: fc.option(fc.integer({ min: 1, max: 64 }), { nil: undefined }),
  bucket: fc.boolean(),
});
const planOpts = (
  o: {
    batchSize: number;
    seed: number | undefined;
    maxTokens: number | undefined;
    bucket: boolean;
  },
) => ({
  batchSize: o.batchSize,
  bucket: o.bucket,
  ...(o.seed === undefined ? {} : { key: key(o.seed) }),
  ...(o.maxTokens === undefined ? {} : { maxTokens: o.maxTokens }),
});

/** Checks that a padded block's mask, lengths and padding agree. */
function checkPadded(
  p: Padded,
  seqs: readonly ArrayLike<number>[],
  rows: Int32Array,
  from = 0,
  drop = 0,
): void {
  const [b, t] = p.shape;
  assertEquals([p.ids.length, p.mask.length, p.lengths.length], [
    b * t,
    b * t,
    b,
  ]);
  for (let i = 0; i < b; i++) {
    const s = Array.from(seqs[rows[i]!]!).slice(
      from,
      seqs[rows[i]!]!.length - drop,
    );
    assertEquals(p.lengths[i], s.length);
    for (let j = 0; j < t; j++) {
      const real = j < s.length;
      assertEquals(
        p.mask[i * t + j],
        real ? 1 : 0,
        "mask does not match length",
      );
      assertEquals(p.ids[i * t + j], real ? s[j] : PAD_ID);
    }
  }
}

Deno.test("every row lands in exactly one batch per epoch, and masks match lengths", () => {
  fc.assert(
    fc.property(tableArb, optsArb, (t, o) => {
      const bs = hostBatches(t, "ids", planOpts(o));
      const seqs = t.array("ids") as Int32Array[];
      const seen = bs.flatMap((b) => [...b.rows]).sort((a, b) => a - b);
      assertEquals(seen, seqs.map((_, i) => i));
      for (const b of bs) {
        assert(b.rows.length <= o.batchSize);
        if (o.maxTokens !== undefined && b.rows.length > 1) {
          assert(b.shape[0] * b.shape[1] <= o.maxTokens);
        }
        checkPadded(b, seqs, b.rows);
      }
    }),
    { numRuns: 200 },
  );
});

Deno.test("batches with the same key are identical and with different keys differ", () => {
  const t = aq.table({
    ids: Array.from(
      { length: 200 },
      (_, i) => Int32Array.from({ length: 1 + (i % 9) }, () => 4 + i),
    ),
  });
  fc.assert(
    fc.property(fc.integer(), fc.integer(), (s1, s2) => {
      fc.pre(s1 !== s2);
      const order = (s: number) =>
        hostBatches(t, "ids", { batchSize: 8, key: key(s) }).map((
          b,
        ) => [...b.rows]);
      assertEquals(order(s1), order(s1));
      assertNotEquals(order(s1), order(s2));
    }),
    { numRuns: 50 },
  );
  const epoch = (e: number) =>
    hostBatches(t, "ids", { batchSize: 8, key: foldIn(key(0), e) }).map((
      b,
    ) => [...b.rows]);
  assertNotEquals(epoch(0), epoch(1));
});

Deno.test("length bucketing keeps padding small", () => {
  const lengths = Array.from({ length: 500 }, (_, i) => 1 + ((i * 37) % 40));
  const t = aq.table({ ids: lengths.map((n) => new Int32Array(n).fill(5)) });
  const pads = (bucket: boolean) =>
    hostBatches(t, "ids", { batchSize: 16, key: key(0), bucket }).reduce(
      (n, b) => n + b.mask.length - b.mask.reduce((a, m) => a + m, 0),
      0,
    );
  assert(
    pads(true) * 10 < pads(false),
    `bucketed ${pads(true)} vs unbucketed ${pads(false)}`,
  );
});

Deno.test("translation batches stay aligned, shift the target for teacher forcing, and keep padding out of the loss", () => {
  const pair = fc.tuple(seqArb, seqArb);
  fc.assert(
    fc.property(
      fc.array(pair, { minLength: 1, maxLength: 40 }),
      optsArb,
      fc.boolean(),
      (pairs, o, sourceEos) => {
        const t = aq.table({
          de: pairs.map((p) => p[0]),
          en: pairs.map((p) => p[1]),
        });
        const bs = hostTranslationBatches(t, {
          source: "de",
          target: "en",
          sourceEos,
          ...planOpts(o),
        });
        const src = pairs.map((p) => sourceEos ? [...p[0], EOS_ID] : p[0]);
        const tgt = pairs.map((p) => [BOS_ID, ...p[1], EOS_ID]);
        assertEquals(
          bs.flatMap((b) => [...b.rows]).sort((a, b) => a - b),
          pairs.map((_, i) => i),
        );
        for (const b of bs) {
          assertEquals([
            b.source.shape[0],
            b.targetIn.shape[0],
            b.targetOut.shape[0],
          ], [b.rows.length, b.rows.length, b.rows.length]);
          checkPadded(b.source, src, b.rows);
          checkPadded(b.targetIn, tgt, b.rows, 0, 1);
          checkPadded(b.targetOut, tgt, b.rows, 1, 0);
          assertEquals(b.targetIn.mask, b.targetOut.mask);
          // A masked loss is blind to whatever a model predicts at padding.
          const loss = (noise: number) => {
            let sum = 0;
            b.targetOut.ids.forEach((y, k) => {
              const logit = b.targetOut.mask[k] ? y * 0.01 : noise;
              sum += b.targetOut.mask[k]! * (logit - y) ** 2;
            });
            return sum;
          };
          assertEquals(loss(0), loss(1e6));
        }
      },
    ),
    { numRuns: 150 },
  );
});

Deno.test("translation batches accept targets that already carry <bos>/<eos>", () => {
  const t = aq.table({ de: [[7]], en: [[BOS_ID, 5, EOS_ID]] });
  const [b] = hostTranslationBatches(t, {
    source: "de",
    target: "en",
    targetSpecials: false,
    sourceEos: false,
  });
  assertEquals([[...b!.source.ids], [...b!.targetIn.ids], [
    ...b!.targetOut.ids,
  ]], [[7], [BOS_ID, 5], [5, EOS_ID]]);
  assertThrows(
    () =>
      hostTranslationBatches(aq.table({ de: [[7]], en: [[5]] }), {
        source: "de",
        target: "en",
        targetSpecials: false,
      }),
    RangeError,
    "teacher forcing",
  );
});

Deno.test("batching rejects bad id columns and options with clear errors", () => {
  assertThrows(
    () => hostBatches(aq.table({ s: ["text"] }), "s"),
    TypeError,
    "run the tokenize step first",
  );
  assertThrows(
    () => hostBatches(aq.table({ s: [[1, -2]] }), "s"),
    RangeError,
    "row 0 holds -2 at 1",
  );
  assertThrows(
    () => hostBatches(aq.table({ s: [[1]] }), "s", { batchSize: 0 }),
    RangeError,
    "batchSize",
  );
  assertThrows(
    () => hostBatches(aq.table({ s: [[1]] }), "x"),
    TypeError,
    'no column "x"',
  );
});

Deno.test("empty sequences get a fully masked row of length 0", () => {
  const [b] = hostBatches(aq.table({ ids: [[], []] }), "ids");
  assertEquals([b!.shape, [...b!.lengths], [...b!.mask]], [[2, 1], [0, 0], [
    0,
    0,
  ]]);
});
