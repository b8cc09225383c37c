// Score modifiers: temperature, bias, soft-capping, ALiBi and the T5
// relative-position bias, against the formulas written as loops.

import { assertEquals, assertThrows } from "@std/assert";
import {
  alibi,
  alibiSlopes,
  attention,
  bias,
  dot,
  identityNormaliser,
  type ModFn,
  relativeBuckets,
  relativePositionBias,
  softCap,
  temperature,
} from "../../attention/mod.ts";
import { type Tensor, tensor, zeros } from "../../ops/mod.ts";
import { assertAllClose, testEachBackend, values } from "../_helpers.ts";

/** Modified scores: identity normaliser, so the weights are the scores. */
function modified(mods: ModFn[], q: Tensor, k: Tensor, opts = {}): Tensor {
  return attention({ score: dot(), mods, normalise: identityNormaliser() })(
    q,
    k,
    k,
    opts,
  )
    .weights;
}

testEachBackend(
  "temperature() divides scores, by a number or a tensor",
  async () => {
    const q = tensor([[2]]), k = tensor([[1], [3]]);
    await assertAllClose(modified([temperature(4)], q, k), [[0.5, 1.5]]);
    await assertAllClose(modified([temperature(tensor(0.5))], q, k), [[4, 12]]);
    assertThrows(() => temperature(0), RangeError, "positive");
  },
);

testEachBackend(
  "bias() adds a broadcasting tensor and mods apply in order",
  async () => {
    const q = tensor([[1]]), k = tensor([[1], [2]]);
    // (s + b) / 2, not s / 2 + b.
    const w = modified([bias(tensor([[10, 20]])), temperature(2)], q, k);
    await assertAllClose(w, [[5.5, 11]]);
  },
);

testEachBackend("softCap() computes c · tanh(s / c)", async () => {
  const q = tensor([[1]]), k = tensor([[0.5], [30], [-30]]);
  const want = [0.5, 30, -30].map((s) => 5 * Math.tanh(s / 5));
  await assertAllClose(modified([softCap(5)], q, k), [want], { atol: 1e-5 });
});

Deno.test("alibiSlopes() follows Press et al. for powers of two and others", () => {
  assertEquals(alibiSlopes(8), [1, 2, 3, 4, 5, 6, 7, 8].map((i) => 2 ** -i));
  // 6 heads: the 4-head slopes, then every other 8-head slope.
  assertEquals(alibiSlopes(6), [
    2 ** -2,
    2 ** -4,
    2 ** -6,
    2 ** -8,
    2 ** -1,
    2 ** -3,
  ]);
  assertThrows(() => alibiSlopes(0), RangeError);
});

testEachBackend("alibi() subtracts m_h · |i − j| per head", async () => {
  const x = zeros([2, 3, 1]); // [H=2, T=3, d=1]: all scores 0
  const w = await values(modified([alibi(2)], x, x));
  const m = alibiSlopes(2);
  const want = m.flatMap((mh) =>
    [0, 1, 2].flatMap((i) => [0, 1, 2].map((j) => -mh * Math.abs(i - j)))
  );
  await assertAllClose(w, want);
});

testEachBackend(
  "alibi() uses positions, so a decoding query sees the right distances",
  async () => {
    const q = zeros([1, 1, 1]), k = zeros([1, 4, 1]);
    const w = modified([alibi(tensor([1]))], q, k, { queryOffset: 3 });
    await assertAllClose(w, [[[-3, -2, -1, 0]]]);
  },
);

/** T5's bucket function, written from the paper's description. */
function t5Bucket(
  rel: number,
  buckets: number,
  bidirectional: boolean,
  maxDistance: number,
) {
  let ret = 0;
  let n = -rel;
  if (bidirectional) {
    buckets = Math.floor(buckets / 2);
    if (n < 0) ret += buckets;
    n = Math.abs(n);
  } else {
    n = Math.max(n, 0);
  }
  const exact = Math.floor(buckets / 2);
  if (n < exact) return ret + n;
  const large = exact +
    Math.trunc(
      Math.log(n / exact) / Math.log(maxDistance / exact) * (buckets - exact),
    );
  return ret + Math.min(large, buckets - 1);
}

testEachBackend("relativeBuckets() matches T5's bucket function", async () => {
  const rel = Array.from({ length: 301 }, (_, i) => i - 150);
  const relT = tensor(rel, { dtype: "int32" });
  for (
    const [buckets, bi, maxD] of [[32, true, 128], [32, false, 128], [
      8,
      true,
      20,
    ]] as const
  ) {
    const got = await values(
      relativeBuckets(relT, buckets, { bidirectional: bi, maxDistance: maxD }),
    );
    assertEquals(
      got,
      rel.map((r) => t5Bucket(r, buckets, bi, maxD)),
      `${buckets} ${bi} ${maxD}`,
    );
  }
});

testEachBackend(
  "relativePositionBias() adds table[h, bucket(j − i)]",
  async () => {
    const table = tensor([[0, 1, 2, 3, 4, 5, 6, 7], [
      0,
      -1,
      -2,
      -3,
      -4,
      -5,
      -6,
      -7,
    ]]);
    const x = zeros([2, 3, 1]);
    const w = await values(modified([relativePositionBias(table)], x, x));
    const want = [1, -1].flatMap((sign) =>
      [0, 1, 2].flatMap((i) =>
        [0, 1, 2].map((j) => sign * t5Bucket(j - i, 8, true, 128))
      )
    );
    assertEquals(w, want);
  },
);

testEachBackend(
  "relativePositionBias() places heads right for per-example positions",
  async () => {
    const table = tensor([[0, 1, 2, 3], [10, 11, 12, 13]]); // [H=2, 4 buckets]
    const x = zeros([2, 2, 2, 1]); // [B=2, H=2, T=2, d=1]
    // Example 1's keys are in reverse order.
    const pos = tensor([[0, 1], [1, 0]], { dtype: "int32" });
    const w = await values(modified([relativePositionBias(table)], x, x, {
      qPositions: tensor([[0, 1], [0, 1]], { dtype: "int32" }),
      kPositions: pos,
    }));
    const b = (r: number) => t5Bucket(r, 4, true, 128);
    const want = [[0, 1], [1, 0]].flatMap((kp) =>
      [0, 10].flatMap((h) =>
        [0, 1].flatMap((i) => kp.map((pj) => h + b(pj - i)))
      )
    );
    assertEquals(w, want);
  },
);

Deno.test("relativePositionBias() rejects a table of the wrong rank or size", () => {
  assertThrows(
    () => relativePositionBias(tensor([1, 2, 3, 4])),
    TypeError,
    "[H, buckets]",
  );
  assertThrows(
    () => relativePositionBias(tensor([[1, 2]])),
    RangeError,
    "at least 4",
  );
});
