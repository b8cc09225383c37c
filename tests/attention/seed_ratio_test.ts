// seedRatio: the source document's formula, a direct loop evaluation of it,
// and the guard where its denominator nears zero or goes negative.

import { assert, assertEquals, assertThrows } from "@std/assert";
import fc from "fast-check";
import {
  attention,
  identityNormaliser,
  seedRatio,
} from "../../attention/mod.ts";
import { grad, sum, type Tensor, tensor } from "../../ops/mod.ts";
import { checkGrads } from "../../testing/mod.ts";
import {
  arbSeed,
  assertAllClose,
  randomValues,
  testEachBackend,
  values,
} from "../_helpers.ts";

/** a_ij = (e_jᵀ Q e_i) / (√d + e_jᵀ e_i), by loops, in float64. */
function direct(e: number[][], f: number[][], Q: number[][]): number[][] {
  const d = Q.length;
  return e.map((ei) =>
    f.map((ej) => {
      let num = 0, dotp = 0;
      for (let a = 0; a < d; a++) {
        dotp += ej[a]! * ei[a]!;
        for (let b = 0; b < d; b++) num += ej[a]! * Q[a]![b]! * ei[b]!;
      }
      return num / (Math.sqrt(d) + dotp);
    })
  );
}

function weights(Q: Tensor, e: Tensor, f: Tensor, eps?: number): Tensor {
  const score = seedRatio(Q, eps === undefined ? {} : { eps });
  return attention({ score, normalise: identityNormaliser() })(e, f, f).weights;
}

const matrix = (v: ArrayLike<number>, r: number, c: number) =>
  Array.from(
    { length: r },
    (_, i) => Array.from({ length: c }, (_, j) => v[i * c + j]!),
  );

testEachBackend(
  "seedRatio() equals a direct loop evaluation of the formula",
  async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 4 }),
        arbSeed,
        async (d, tq, tk, seed) => {
          const q = randomValues(d * d, seed),
            e = randomValues(tq * d, seed + 1);
          const f = randomValues(tk * d, seed + 2);
          const [E, F] = [matrix(e, tq, d), matrix(f, tk, d)];
          // Away from the guard only: |den| ≥ 0.05 (the band is ±0.01).
          const den = (a: number[], b: number[]) =>
            Math.sqrt(d) + a.reduce((s, x, i) => s + x * b[i]!, 0);
          fc.pre(
            E.every((ei) => F.every((fj) => Math.abs(den(ei, fj)) >= 0.05)),
          );
          const want = direct(E, F, matrix(q, d, d));
          const got = weights(
            tensor(q, { shape: [d, d] }),
            tensor(e, { shape: [tq, d] }),
            tensor(f, { shape: [tk, d] }),
          );
          await assertAllClose(got, want.flat(), { rtol: 1e-3, atol: 1e-4 });
        },
      ),
      { numRuns: 30 },
    );
  },
);

Deno.test("seedRatio() keeps negative denominators outside the guard band", async () => {
  // d = 1: a = Q·e·f / (1 + e·f); e·f = −3 gives den = −2.
  const w = await values(weights(tensor([[2]]), tensor([[1]]), tensor([[-3]])));
  await assertAllClose(w, [(2 * -3) / (1 - 3)]);
});

Deno.test("seedRatio() replaces a denominator near zero by ±ε with its sign", async () => {
  const Q = tensor([[1]]), e = tensor([[1]]);
  // den = 1 + e·f: exactly 0, just above, just below.
  const f = tensor([[-1], [-0.996], [-1.004]]);
  const w = await values(weights(Q, e, f, 0.01));
  const num = [-1, -0.996, -1.004];
  await assertAllClose(w, [num[0]! / 0.01, num[1]! / 0.01, num[2]! / -0.01], {
    rtol: 1e-5,
  });
  assert(w.every(Number.isFinite));
});

Deno.test("seedRatio() guard stops gradients through the denominator but not through Q", async () => {
  // Inside the band the denominator is the constant ±ε: d/dQ = e·f/ε only.
  const e = tensor([[1]]), f = tensor([[-1.002]]);
  const gQ = grad((Q: Tensor) => sum(weights(Q, e, f, 0.01)))(tensor([[3]]));
  await assertAllClose(gQ, [[-1.002 / -0.01]], { rtol: 1e-4 });
  const gE = await values(
    grad((x: Tensor) => sum(weights(tensor([[3]]), x, f, 0.01)))(e),
  );
  await assertAllClose(gE, [3 * -1.002 / -0.01], { rtol: 1e-4 }); // only num depends on e
});

testEachBackend(
  "seedRatio() derivatives in Q, q and k match finite differences",
  async () => {
    const Q = tensor(randomValues(9, 5), { shape: [3, 3] });
    const e = tensor(randomValues(6, 6, "unit"), { shape: [2, 3] });
    const f = tensor(randomValues(12, 7, "unit"), { shape: [4, 3] });
    await checkGrads((Q: Tensor, e: Tensor, f: Tensor) => weights(Q, e, f), [
      Q,
      e,
      f,
    ]);
  },
);

Deno.test("seedRatio() takes one Q per head", async () => {
  const Q = tensor([[[1]], [[2]]]); // [H=2, 1, 1]
  const e = tensor([[[1]], [[1]]]); // [H, T=1, d=1]
  const w = await values(weights(Q, e, e));
  await assertAllClose(w, [1 / 2, 2 / 2]);
  assertEquals(w.length, 2);
});

Deno.test("seedRatio() rejects a non-positive eps", () => {
  assertThrows(() => seedRatio(tensor([[1]]), { eps: 0 }), RangeError, "eps");
});
