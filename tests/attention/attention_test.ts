// The attention(spec) combinator: the pipeline order, batch broadcasting,
// user pieces with no registration, dropout, and errors.

import {
  assert,
  assertEquals,
  assertNotEquals,
  assertThrows,
} from "@std/assert";
import {
  attention,
  causal,
  dot,
  type MaskFn,
  type ModFn,
  scaledDot,
  type ScoreFn,
} from "../../attention/mod.ts";
import {
  greater,
  key,
  matmul,
  mul,
  notEqual,
  softmax,
  sub,
  sum,
  tensor,
  transpose,
} from "../../ops/mod.ts";
import {
  assertAllClose,
  randomTensor,
  testEachBackend,
  values,
} from "../_helpers.ts";

testEachBackend(
  "attention() computes softmax(q kᵀ / √d) v by default",
  async () => {
    const q = randomTensor([2, 3, 4], 1), k = randomTensor([2, 5, 4], 2);
    const v = randomTensor([2, 5, 6], 3);
    const { output, weights } = attention({ score: scaledDot() })(q, k, v);
    const w = softmax(mul(matmul(q, transpose(k, [0, 2, 1])), 0.5));
    await assertAllClose(weights, w, { atol: 1e-6 });
    await assertAllClose(output, matmul(w, v), { atol: 1e-5 });
    assertEquals(output.shape, [2, 3, 6]);
  },
);

testEachBackend(
  "attention() broadcasts shared keys over a batch of queries",
  async () => {
    const q = randomTensor([3, 2, 4], 4),
      k = randomTensor([5, 4], 5),
      v = randomTensor([5, 2], 6);
    const { output } = attention({ score: dot() })(q, k, v);
    assertEquals(output.shape, [3, 2, 2]);
    const one = attention({ score: dot() })(
      tensor((await values(q)).slice(8, 16), { shape: [2, 4] }),
      k,
      v,
    );
    await assertAllClose((await values(output)).slice(4, 8), one.output, {
      atol: 1e-6,
    });
  },
);

testEachBackend(
  "user score functions, modifiers and masks plug in with no registration",
  async () => {
    // Negative squared distance as the score, a 'sink' penalty, an even-keys mask.
    const l2: ScoreFn = (q, k) => {
      const d = sub(
        mul(matmul(q, transpose(k)), 2),
        sum(mul(k, k), { axis: -1 }),
      );
      return sub(d, sum(mul(q, q), { axis: -1, keepdims: true }));
    };
    const sink: ModFn = (s, ctx) => sub(s, mul(greater(1, ctx.kPos), 3));
    const skipOne: MaskFn = (ctx) => notEqual(ctx.kPos, 1);
    const q = tensor([[0, 0]]),
      k = tensor([[1, 0], [0, 2], [0, 0]]),
      v = tensor([[1], [2], [3]]);
    const f = attention({ score: l2, mods: [sink], masks: [skipOne] });
    // scores: −1 − 3 (sink at key 0), masked, 0.
    const e = [Math.exp(-4), 0, 1], z = e.reduce((a, b) => a + b);
    await assertAllClose(f(q, k, v).weights, [e.map((x) => x / z)], {
      atol: 1e-6,
    });
  },
);

testEachBackend(
  "dropout() on the weights is keyed, scaled, and off outside training",
  async () => {
    const x = randomTensor([6, 4], 7);
    const f = attention({ score: dot(), dropout: 0.5 });
    const plain = f(x, x, x);
    const same = f(x, x, x, { training: false, key: key(1) });
    await assertAllClose(same.output, plain.output);
    const a = f(x, x, x, { training: true, key: key(1) });
    const b = f(x, x, x, { training: true, key: key(1) });
    const c = f(x, x, x, { training: true, key: key(2) });
    await assertAllClose(a.output, b.output);
    assertNotEquals(await values(a.output), await values(c.output));
    // The reported weights are the ones before dropout.
    await assertAllClose(a.weights, plain.weights);
    // Each used weight is 0 or twice the weight: output = used @ v, v = I.
    const eye = tensor([...Array(36)].map((_, i) => (i % 7 === 0 ? 1 : 0)), {
      shape: [6, 6],
    });
    const used = await values(
      f(x, x, eye, { training: true, key: key(3) }).output,
    );
    const w = await values(plain.weights);
    assert(used.every((u, i) => u === 0 || Math.abs(u - 2 * w[i]!) < 1e-6));
    assert(used.some((u) => u === 0) && used.some((u) => u !== 0));
  },
);

Deno.test("dropout while training without a key is an error", () => {
  const x = tensor([[1]]);
  assertThrows(
    () =>
      attention({ score: dot(), dropout: 0.1 })(x, x, x, { training: true }),
    TypeError,
    "opts.key",
  );
  assertThrows(
    () => attention({ score: dot(), dropout: 1 }),
    RangeError,
    "[0, 1)",
  );
});

Deno.test("attention() names the shapes when inputs do not fit", () => {
  const q = tensor([[1, 2]]), k = tensor([[1, 2], [3, 4]]);
  assertThrows(
    () => attention({ score: dot() })(q, k, tensor([[1]])),
    TypeError,
    "Tk",
  );
  assertThrows(
    () => attention({ score: dot() })(tensor([1, 2]), k, k),
    TypeError,
    "[..., T, d]",
  );
  assertThrows(
    () =>
      attention({ score: dot() })(
        tensor([[[1]], [[1]]]),
        tensor([[[1]], [[1]], [[1]]]),
        tensor([[[1]], [[1]], [[1]]]),
      ),
    TypeError,
    "cannot be broadcast together",
  );
  assertThrows(
    () =>
      attention({ score: dot(), masks: [causal()] })(q, k, k, {
        queryOffset: 0.5,
      }),
    RangeError,
  );
});
