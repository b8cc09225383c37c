// Normalisers: softmax, sparsemax, sigmoid and identity, with and without
// masks; sparsemax against a sort-based reference and its known Jacobian.

import { assert, assertEquals } from "@std/assert";
import fc from "fast-check";
import {
  attention,
  dot,
  identityNormaliser,
  sigmoidNormaliser,
  softmaxNormaliser,
  sparsemaxNormaliser,
  temperature,
} from "../../attention/mod.ts";
import type { Context, Normaliser } from "../../attention/mod.ts";
import {
  grad,
  jvp,
  mul,
  softmax as opsSoftmax,
  sum,
  type Tensor,
  tensor,
} from "../../ops/mod.ts";
import { checkGrads } from "../../testing/mod.ts";
import {
  arbSeed,
  assertAllClose,
  randomValues,
  testEachBackend,
  values,
} from "../_helpers.ts";

const CTX = undefined as unknown as Context; // normalisers ignore it

function apply(n: Normaliser, s: Tensor, mask: Tensor | null = null): Tensor {
  return n(s, mask, CTX);
}

/** Sparsemax by the textbook sort-based algorithm, on the host. */
function sparsemaxRef(scores: number[]): number[] {
  // Shifted by the max first (sparsemax is shift invariant), so that even
  // float64 does not absorb the +1 of the support test at large scores.
  const top = Math.max(...scores);
  const z = scores.map((v) => v - top);
  const sorted = [...z].sort((a, b) => b - a);
  let cum = 0, k = 0, cumK = 0;
  sorted.forEach((v, i) => {
    cum += v;
    if (1 + (i + 1) * v > cum) [k, cumK] = [i + 1, cum];
  });
  const tau = (cumK - 1) / k;
  return z.map((v) => Math.max(v - tau, 0));
}

testEachBackend(
  "softmaxNormaliser() equals the ops softmax when nothing is masked",
  async () => {
    const s = tensor(randomValues(12, 1), { shape: [3, 4] });
    await assertAllClose(apply(softmaxNormaliser(), s), opsSoftmax(s), {
      atol: 1e-6,
    });
  },
);

testEachBackend(
  "softmaxNormaliser() gives masked keys exactly 0 and an empty row zeros",
  async () => {
    const s = tensor([[1, 2, 3], [4, 5, 6]]);
    const mask = tensor([[true, false, true], [false, false, false]]);
    const w = await values(apply(softmaxNormaliser(), s, mask));
    const e = Math.exp(2);
    await assertAllClose(w, [1 / (1 + e), 0, e / (1 + e), 0, 0, 0]);
    assertEquals(w[1], 0);
    assertEquals(w.slice(3), [0, 0, 0]);
  },
);

testEachBackend(
  "softmaxNormaliser() has finite gradients through a fully masked row",
  async () => {
    const mask = tensor([[true, true], [false, false]]);
    const r = tensor([[1, 2], [3, 4]]);
    const g = grad((s: Tensor) =>
      sum(mul(apply(softmaxNormaliser(), s, mask), r))
    )(
      tensor([[0.5, -0.5], [1, 2]]),
    );
    const gv = await values(g);
    assert(gv.every(Number.isFinite), `gradient ${gv}`);
    assertEquals(gv.slice(2), [0, 0]);
  },
);

testEachBackend(
  "sparsemaxNormaliser() equals the sort-based algorithm on random rows",
  async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 7 }),
        arbSeed,
        fc.constantFrom(0.3, 1, 4),
        async (n, seed, spread) => {
          const z = Array.from(randomValues(n, seed), (v) => v * spread);
          const w = apply(sparsemaxNormaliser(), tensor(z, { shape: [1, n] }));
          await assertAllClose(w, sparsemaxRef(z), { atol: 1e-5 });
        },
      ),
      { numRuns: 25 },
    );
  },
);

testEachBackend(
  "sparsemaxNormaliser() lies on the simplex and is sparse for peaked scores",
  async () => {
    const s = tensor([[5, 1, 0.5, -2], [0.1, 0.2, 0.15, 0.12]]);
    const w = await values(apply(sparsemaxNormaliser(), s));
    assertEquals(w.slice(0, 4), [1, 0, 0, 0]); // peaked: a one-hot row
    assert(w.every((x) => x >= 0));
    const rowSum = (r: number) =>
      w.slice(4 * r, 4 * r + 4).reduce((a, b) => a + b);
    await assertAllClose([rowSum(0), rowSum(1)], [1, 1], { atol: 1e-6 });
    assert(w.slice(4).every((x) => x > 0), "flat scores keep every key");
  },
);

testEachBackend(
  "sparsemaxNormaliser() is one-hot whenever the top score leads by more than 1",
  async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 2, max: 7 }),
        arbSeed,
        // Strictly more than 1: at exactly 1 the runner-up sits on the kink.
        fc.double({ min: 1.01, max: 5, noNaN: true }),
        async (n, seed, lead) => {
          // Any row, then lift one entry `lead` above the rest.
          const z = Array.from(randomValues(n, seed));
          const top = seed % n;
          z[top] = Math.max(...z) + lead;
          const w = await values(apply(sparsemaxNormaliser(), tensor([z])));
          // Exact zeros off the top; 1 at the top up to float32 rounding.
          assertEquals(w.map((x, i) => (i === top ? 0 : x)), Array(n).fill(0));
          await assertAllClose(w[top]!, 1, { atol: 1e-6 });
        },
      ),
      { numRuns: 20 },
    );
  },
);

testEachBackend(
  "sparsemaxNormaliser() stays on the simplex for large scores",
  async () => {
    // float32 absorbs the +1 of the support test and τ unless each row is
    // shifted by its max first (these gave [0, 0], [0, 0] and [2, 0]).
    const w = apply(
      sparsemaxNormaliser(),
      tensor([[1e30, 1e30], [1.7e7, 0], [30000002, 30000000], [-1e30, -1e30]]),
    );
    assertEquals(await values(w), [0.5, 0.5, 1, 0, 1, 0, 0.5, 0.5]);
    // The same with a mask: the masked top key does not set the shift.
    const masked = apply(
      sparsemaxNormaliser(),
      tensor([[4e7, 2e7, 2e7]]),
      tensor([[false, true, true]]),
    );
    assertEquals(await values(masked), [0, 0.5, 0.5]);
  },
);

testEachBackend(
  "sparsemaxNormaliser() is shift invariant at every scale",
  async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 6 }),
        arbSeed,
        fc.constantFrom(1e6, 1e7, 3e7, 1e30, -1e7, -1e30),
        async (n, seed, c) => {
          // fl(z + c) and fl(z + c) − c are the same scores up to a shift
          // (the subtraction is exact), so their weights must agree.
          const up = Array.from(
            randomValues(n, seed),
            (v) => Math.fround(v + c),
          );
          const back = up.map((v) => v - c);
          const w = apply(sparsemaxNormaliser(), tensor([up]));
          await assertAllClose(w, sparsemaxRef(back), { atol: 1e-6 });
        },
      ),
      { numRuns: 20 },
    );
  },
);

testEachBackend(
  "sparsemaxNormaliser() at a tiny temperature gives the argmax, as softmax does",
  async () => {
    const q = tensor([[1]]), k = tensor([[2], [1.5], [0]]);
    for (const normalise of [sparsemaxNormaliser(), softmaxNormaliser()]) {
      const f = attention({
        score: dot(),
        mods: [temperature(1e-8)],
        normalise,
      });
      assertEquals(await values(f(q, k, k).weights), [1, 0, 0]);
    }
  },
);

testEachBackend(
  "sparsemaxNormaliser() derivatives stay right for large tied scores",
  async () => {
    // Support {0, 1} of [c, c, c − 8]: ∂w_i/∂z_j = [i∈S]([i=j] − [j∈S]/2).
    const c = 2 ** 25;
    const z = tensor([[c, c, c - 8]]);
    const f = (x: Tensor) => apply(sparsemaxNormaliser(), x);
    const want = [[0.5, -0.5, 0], [-0.5, 0.5, 0], [0, 0, 0]];
    for (let j = 0; j < 3; j++) {
      const dz = tensor([[0, 1, 2].map((i) => (i === j ? 1 : 0))]);
      const [w, dw] = jvp(f, [z], [dz]);
      assertEquals(await values(w), [0.5, 0.5, 0]);
      await assertAllClose(dw, [want.map((row) => row[j]!)], { atol: 1e-6 });
      const g = grad((x: Tensor) => sum(mul(f(x), dz)))(z); // row j of Jᵀ
      await assertAllClose(g, [want[j]!], { atol: 1e-6 });
    }
  },
);

testEachBackend(
  "sparsemaxNormaliser() with ties gives tied keys equal weight",
  async () => {
    const w = await values(apply(sparsemaxNormaliser(), tensor([[1, 1, -3]])));
    assertEquals(w, [0.5, 0.5, 0]);
  },
);

testEachBackend(
  "sparsemaxNormaliser() ignores masked keys and zeroes an empty row",
  async () => {
    const s = tensor([[3, 0.5, 0.4], [1, 2, 3]]);
    const mask = tensor([[false, true, true], [false, false, false]]);
    const w = await values(apply(sparsemaxNormaliser(), s, mask));
    // Without key 0: τ = (0.5 + 0.4 − 1)/2 = −0.05.
    await assertAllClose(w, [0, 0.55, 0.45, 0, 0, 0], { atol: 1e-6 });
  },
);

testEachBackend(
  "sparsemaxNormaliser() has the known Jacobian diag(s) − s sᵀ/|S|",
  async () => {
    // Support {0, 1, 2} of 4: ∂w_i/∂z_j = [i∈S]([i=j] − [j∈S]/3).
    const z = tensor([[1, 0.9, 0.8, -2]]);
    const support = [1, 1, 1, 0];
    for (let j = 0; j < 4; j++) {
      const dz = tensor([[0, 1, 2, 3].map((i) => (i === j ? 1 : 0))]);
      const [, dw] = jvp((x: Tensor) => apply(sparsemaxNormaliser(), x), [z], [
        dz,
      ]);
      const want = support.map((si, i) =>
        si * ((i === j ? 1 : 0) - support[j]! / 3)
      );
      await assertAllClose(dw, [want], { atol: 1e-6 });
    }
  },
);

testEachBackend(
  "sparsemaxNormaliser() derivatives match finite differences away from ties",
  async () => {
    // Distinct values far (≥ 0.13) from each other and, after projection,
    // from the support boundary.
    const z = tensor([[0.9, 0.35, 0.1, -0.6, 0.62]]);
    const mask = tensor([[true, true, true, false, true]]);
    await checkGrads(
      (x: Tensor) => apply(sparsemaxNormaliser(), x, mask),
      [z],
      {
        eps: 1e-3,
      },
    );
  },
);

testEachBackend(
  "sigmoidNormaliser() weighs each key on its own and honours the mask",
  async () => {
    const s = tensor([[0, 2, -1]]);
    const mask = tensor([[true, false, true]]);
    const w = await values(apply(sigmoidNormaliser({ bias: 1 }), s, mask));
    await assertAllClose(w, [1 / (1 + Math.exp(-1)), 0, 0.5]);
  },
);

testEachBackend(
  "identityNormaliser() passes scores through and zeroes masked ones",
  async () => {
    const w = await values(
      apply(identityNormaliser(), tensor([[-2, 7]]), tensor([[true, false]])),
    );
    assertEquals(w, [-2, 0]);
  },
);

Deno.test("normalisers declare the laws they satisfy", () => {
  assertEquals(softmaxNormaliser().laws, {
    simplex: true,
    shiftInvariant: true,
    smooth: true,
  });
  assertEquals(sparsemaxNormaliser().laws, {
    simplex: true,
    shiftInvariant: true,
    smooth: false,
  });
  assertEquals(sigmoidNormaliser().laws.simplex, false);
  assertEquals(identityNormaliser().laws.shiftInvariant, false);
});

Deno.test("sparsemaxNormaliser() gives the same rows when it works in blocks of rows", async () => {
  // 260 rows × 260² pairs exceed one block (2^24 elements): two blocks.
  const n = 260;
  const s = tensor(randomValues(n * n, 9), { shape: [n, n] });
  const w = await values(apply(sparsemaxNormaliser(), s));
  const z = await values(s);
  for (const row of [0, 247, 248, 259]) {
    const zr = z.slice(row * n, row * n + n);
    await assertAllClose(w.slice(row * n, row * n + n), sparsemaxRef(zr), {
      atol: 1e-5,
    });
  }
});
