// multiHead: projections as a pytree, heads computed independently, cross-
// attention, and the spec's own learnable parameters.

import { assertEquals, assertThrows } from "@std/assert";
import {
  attention,
  causal,
  multiHead,
  padding,
  relativePositionBias,
  scaledDot,
  temperature,
} from "../../attention/mod.ts";
import {
  add,
  concat,
  grad,
  key,
  matmul,
  mul,
  normal,
  slice,
  sum,
  type Tensor,
  tensor,
  zeros,
} from "../../ops/mod.ts";
import {
  assertAllClose,
  randomTensor,
  testEachBackend,
  values,
} from "../_helpers.ts";

testEachBackend(
  "multiHead() computes each head on its own slice of the projections",
  async () => {
    const spec = { score: scaledDot(), masks: [causal()] };
    const mha = multiHead(spec, { heads: 2, dModel: 4 });
    const p = {
      ...mha.init(key(0)),
      bq: randomTensor([4], 1),
      bo: randomTensor([4], 2),
    };
    const x = randomTensor([3, 5, 4], 3); // [B, T, dModel]
    const { output, weights } = mha.apply(p, x);
    assertEquals(weights.shape, [3, 2, 5, 5]);
    const cols = (w: Tensor, h: number) => slice(w, [0, 2 * h], [4, 2]);
    const heads = [0, 1].map((h) => {
      const proj = (w: Tensor, b: Tensor) =>
        add(matmul(x, cols(w, h)), slice(b, [2 * h], [2]));
      return attention(spec)(
        proj(p.wq, p.bq),
        proj(p.wk, p.bk),
        proj(p.wv, p.bv),
      ).output;
    });
    const want = add(matmul(concat(heads, -1), p.wo), p.bo);
    await assertAllClose(output, want, { atol: 1e-5 });
  },
);

testEachBackend(
  "multiHead() attends to a context in cross-attention",
  async () => {
    const mha = multiHead({ score: scaledDot() }, {
      heads: 2,
      dModel: 4,
      dHead: 3,
    });
    const p = mha.init(key(1));
    assertEquals(p.wq.shape, [4, 6]);
    const x = randomTensor([2, 3, 4], 4), ctx = randomTensor([2, 7, 4], 5);
    const { output, weights } = mha.apply(p, x, { context: ctx });
    assertEquals(output.shape, [2, 3, 4]);
    assertEquals(weights.shape, [2, 2, 3, 7]);
    // With x as its own context, cross-attention is self-attention.
    await assertAllClose(
      mha.apply(p, x, { context: x }).output,
      mha.apply(p, x).output,
    );
  },
);

testEachBackend(
  "multiHead() passes per-call padding to every head",
  async () => {
    const mha = multiHead({ score: scaledDot(), masks: [padding()] }, {
      heads: 2,
      dModel: 2,
    });
    const p = mha.init(key(2));
    const { weights } = mha.apply(p, randomTensor([2, 3, 2], 6), {
      lengths: [3, 1],
    });
    const w = await values(weights); // [2, 2, 3, 3]
    // Example 1, both heads: only key 0 is visible.
    assertEquals(w.slice(18).filter((_, i) => i % 3 !== 0), Array(12).fill(0));
  },
);

testEachBackend(
  "multiHead() differentiates the projections and the spec's own parameters",
  async () => {
    const mha = multiHead(
      (s: { table: Tensor; t: Tensor }) => ({
        score: scaledDot(),
        mods: [relativePositionBias(s.table), temperature(s.t)],
      }),
      {
        heads: 2,
        dModel: 4,
        initSpec: (k, { heads }) => ({
          table: mul(normal(k, [heads, 8]), 0.5),
          t: tensor(1.5),
        }),
      },
    );
    const p = mha.init(key(3));
    const x = randomTensor([1, 4, 4], 7);
    const loss = (q: typeof p) =>
      sum(mul(mha.apply(q, x).output, randomTensor([1, 4, 4], 8)));
    const g = grad(loss)(p);
    assertEquals(g.spec.table.shape, [2, 8]);
    for (
      const leaf of [g.wq, g.wk, g.wv, g.wo, g.bq, g.bo, g.spec.table, g.spec.t]
    ) {
      const v = await values(leaf);
      assertEquals(v.every(Number.isFinite), true);
      assertEquals(
        v.some((z) => z !== 0),
        true,
        "every parameter gets a gradient",
      );
    }
    // Spot-check one spec parameter against a central difference.
    const eps = 1e-2;
    const at = (t: number) => loss({ ...p, spec: { ...p.spec, t: tensor(t) } });
    const fd =
      ((await values(at(1.5 + eps)))[0]! - (await values(at(1.5 - eps)))[0]!) /
      (2 * eps);
    await assertAllClose(g.spec.t, fd, { rtol: 2e-2, atol: 1e-3 });
  },
);

Deno.test("multiHead() rejects sizes that do not fit", () => {
  assertThrows(
    () => multiHead({ score: scaledDot() }, { heads: 3, dModel: 4 }),
    RangeError,
    "dHead",
  );
  assertThrows(
    () => multiHead({ score: scaledDot() }, { heads: 0, dModel: 4 }),
    RangeError,
    "heads",
  );
  const mha = multiHead({ score: scaledDot() }, { heads: 1, dModel: 4 });
  assertThrows(
    () => mha.apply(mha.init(key(0)), zeros([2, 3])),
    TypeError,
    "dModel = 4",
  );
});
