// modules([A_1..A_K], combine): concatenation, fixed mixtures and a learned
// gate; the merged weights are exact (output = weights @ v).

import { assertEquals, assertThrows } from "@std/assert";
import {
  attention,
  causal,
  concatenate,
  dot,
  gate,
  mixture,
  modules,
  scaledDot,
  sigmoidNormaliser,
  sparsemaxNormaliser,
} from "../../attention/mod.ts";
import {
  add,
  concat,
  matmul,
  mul,
  softmax,
  stack,
  tensor,
} from "../../ops/mod.ts";
import { assertAllClose, randomTensor, testEachBackend } from "../_helpers.ts";

const parts = () => [
  attention({ score: scaledDot(), masks: [causal()] }),
  attention({ score: dot(), normalise: sparsemaxNormaliser() }),
  attention({ score: scaledDot(), normalise: sigmoidNormaliser() }),
];

const inputs = () =>
  [
    randomTensor([2, 4, 3], 1),
    randomTensor([2, 4, 3], 2),
    randomTensor([2, 4, 5], 3),
  ] as const;

testEachBackend(
  "concatenate() joins outputs along features and stacks weights",
  async () => {
    const [q, k, v] = inputs();
    const rs = parts().map((a) => a(q, k, v));
    const { output, weights } = modules(parts(), concatenate())(q, k, v);
    assertEquals(output.shape, [2, 4, 15]);
    assertEquals(weights.shape, [2, 3, 4, 4]);
    await assertAllClose(output, concat(rs.map((r) => r.output), -1));
    await assertAllClose(weights, stack(rs.map((r) => r.weights), -3));
  },
);

testEachBackend(
  "mixture() is Σ α_k A_k and its weights reproduce the output",
  async () => {
    const [q, k, v] = inputs();
    const alpha = [0.2, 0.3, 0.5];
    const rs = parts().map((a) => a(q, k, v));
    const { output, weights } = modules(parts(), mixture(alpha))(q, k, v);
    const want = rs.map((r, i) => mul(r.output, alpha[i]!)).reduce((a, b) =>
      add(a, b)
    );
    await assertAllClose(output, want, { atol: 1e-6 });
    await assertAllClose(output, matmul(weights, v), { atol: 1e-5 });
  },
);

testEachBackend("gate() mixes per query with softmax(q W + b)", async () => {
  const [q, k, v] = inputs();
  const w = randomTensor([3, 3], 4), b = tensor([0.1, -0.2, 0.3]);
  const rs = parts().map((a) => a(q, k, v));
  const { output, weights } = modules(parts(), gate({ w, b }))(q, k, v);
  const g = softmax(add(matmul(q, w), b)); // [2, 4, 3]
  const gs = [0, 1, 2].map((i) =>
    mul(g, tensor([0, 1, 2].map((j) => (j === i ? 1 : 0))))
  );
  const want = rs
    .map((r, i) => mul(r.output, matmul(gs[i]!, tensor([[1], [1], [1]]))))
    .reduce((a, c) => add(a, c));
  await assertAllClose(output, want, { atol: 1e-6 });
  await assertAllClose(output, matmul(weights, v), { atol: 1e-5 });
});

testEachBackend("modules([A]) equals A for every combiner", async () => {
  const [q, k, v] = inputs();
  const a = parts()[0]!;
  const want = a(q, k, v);
  for (
    const combine of [
      concatenate(),
      mixture([1]),
      gate({ w: randomTensor([3, 1], 5) }),
    ]
  ) {
    const got = modules([a], combine)(q, k, v);
    await assertAllClose(got.output, want.output, { atol: 1e-6 });
  }
});

Deno.test("combiners check the number of modules", () => {
  const x = tensor([[1]]);
  const a = attention({ score: dot() });
  assertThrows(
    () => modules([a, a], mixture([1]))(x, x, x),
    TypeError,
    "1 weights for 2 modules",
  );
  assertThrows(
    () => modules([a], gate({ w: tensor([[1, 2]]) }))(x, x, x),
    TypeError,
    "2 logits",
  );
  assertThrows(() => modules([], concatenate()), TypeError, "at least one");
});
