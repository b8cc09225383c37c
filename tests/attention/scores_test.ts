// Score functions against direct loops over i, j (the formulas as written).

import { assertEquals, assertThrows } from "@std/assert";
import {
  additive,
  attention,
  bilinear,
  cosine,
  dot,
  identityNormaliser,
  type ScoreFn,
} from "../../attention/mod.ts";
import { scaledDot } from "../../attention/mod.ts";
import {
  grad,
  matmul,
  slice,
  sum,
  type Tensor,
  tensor,
} from "../../ops/mod.ts";
import {
  assertAllClose,
  randomTensor,
  testEachBackend,
  values,
} from "../_helpers.ts";

/** The scores a score function gives (identity normaliser, no masks). */
function scoresOf(score: ScoreFn, q: Tensor, k: Tensor): Tensor {
  return attention({ score, normalise: identityNormaliser() })(q, k, k).weights;
}

/** Rows of a [T, d] host matrix. */
async function rowsOf(x: Tensor): Promise<number[][]> {
  const v = await values(x);
  const d = x.shape[x.ndim - 1]!;
  return Array.from(
    { length: v.length / d },
    (_, i) => v.slice(i * d, i * d + d),
  );
}

const vdot = (a: number[], b: number[]) =>
  a.reduce((s, x, i) => s + x * b[i]!, 0);

/** s[i][j] = f(q_i, k_j), flattened. */
async function loop(
  q: Tensor,
  k: Tensor,
  f: (qi: number[], kj: number[]) => number,
) {
  const qs = await rowsOf(q), ks = await rowsOf(k);
  return qs.flatMap((qi) => ks.map((kj) => f(qi, kj)));
}

// Inputs are made inside each test, on that test's backend.
const inputs = () =>
  [randomTensor([3, 4], 11), randomTensor([5, 4], 12)] as const;

testEachBackend("dot() scores q_i · k_j", async () => {
  const [Q, K] = inputs();
  await assertAllClose(scoresOf(dot(), Q, K), await loop(Q, K, vdot), {
    atol: 1e-5,
  });
});

testEachBackend(
  "scaledDot() divides by √d, or multiplies by a given scale",
  async () => {
    const [Q, K] = inputs();
    await assertAllClose(
      scoresOf(scaledDot(), Q, K),
      await loop(Q, K, (a, b) => vdot(a, b) / 2),
      {
        atol: 1e-5,
      },
    );
    await assertAllClose(
      scoresOf(scaledDot(3), Q, K),
      await loop(Q, K, (a, b) => 3 * vdot(a, b)),
      {
        atol: 1e-5,
      },
    );
  },
);

testEachBackend("additive() scores vᵀ tanh(W₁ᵀq + W₂ᵀk + b)", async () => {
  const [Q, K] = inputs();
  const w1 = randomTensor([4, 3], 1), w2 = randomTensor([4, 3], 2);
  const v = randomTensor([3], 3), b = randomTensor([3], 4);
  const [W1, W2, V, B] = [
    await values(w1),
    await values(w2),
    await values(v),
    await values(b),
  ];
  const proj = (x: number[], W: number[]) =>
    [0, 1, 2].map((h) => x.reduce((s, xa, a) => s + xa * W[a * 3 + h]!, 0));
  const want = await loop(Q, K, (qi, kj) => {
    const pq = proj(qi, W1), pk = proj(kj, W2);
    return [0, 1, 2].reduce(
      (s, h) => s + V[h]! * Math.tanh(pq[h]! + pk[h]! + B[h]!),
      0,
    );
  });
  await assertAllClose(scoresOf(additive({ w1, w2, v, b }), Q, K), want, {
    atol: 1e-5,
  });
});

testEachBackend(
  "bilinear() scores qᵀ W k, also with different q and k widths",
  async () => {
    const [Q] = inputs();
    const w = randomTensor([4, 2], 5);
    const W = await values(w);
    const k2 = randomTensor([5, 2], 6);
    const want = await loop(Q, k2, (qi, kj) => {
      let s = 0;
      for (let a = 0; a < 4; a++) {
        for (let c = 0; c < 2; c++) s += qi[a]! * W[a * 2 + c]! * kj[c]!;
      }
      return s;
    });
    await assertAllClose(scoresOf(bilinear(w), Q, k2), want, { atol: 1e-5 });
  },
);

testEachBackend("bilinear() takes one matrix per head", async () => {
  const w = randomTensor([2, 4, 4], 7); // [H, d, d]
  const q = randomTensor([2, 3, 4], 8), k = randomTensor([2, 5, 4], 9);
  const s = scoresOf(bilinear(w), q, k);
  assertEquals(s.shape, [2, 3, 5]);
  const head1 = scoresOf(
    bilinear(tensor((await values(w)).slice(16), { shape: [4, 4] })),
    tensor((await values(q)).slice(12), { shape: [3, 4] }),
    tensor((await values(k)).slice(20), { shape: [5, 4] }),
  );
  await assertAllClose((await values(s)).slice(15), head1, { atol: 1e-5 });
});

testEachBackend(
  "cosine() scores scale · cos(q_i, k_j) with a tensor scale",
  async () => {
    const [Q, K] = inputs();
    const norm = (a: number[]) => Math.sqrt(vdot(a, a));
    const want = await loop(
      Q,
      K,
      (a, b) => 2.5 * vdot(a, b) / (norm(a) * norm(b)),
    );
    await assertAllClose(scoresOf(cosine(tensor(2.5)), Q, K), want, {
      atol: 1e-4,
    });
  },
);

testEachBackend("cosine() stays finite for a zero vector", async () => {
  const s = await values(
    scoresOf(cosine(), tensor([[0, 0]]), tensor([[1, 0]])),
  );
  assertEquals(s, [0]);
});

Deno.test("score functions reject q and k of different widths", () => {
  const q = tensor([[1, 2]]), k = tensor([[1, 2, 3]]);
  for (const score of [dot(), scaledDot(), cosine()]) {
    assertThrows(
      () => scoresOf(score, q, k),
      TypeError,
      "differ in their last axis",
    );
  }
});

Deno.test("attention() rejects a score function of the wrong shape", () => {
  const bad: ScoreFn = (q) => q;
  assertThrows(
    () =>
      attention({ score: bad })(
        tensor([[1, 2]]),
        tensor([[1, 2], [3, 4], [5, 6]]),
        tensor([[1], [2], [3]]),
      ),
    TypeError,
    "the score function bad returned float32[1,2], expected a float32 tensor [..., 1, 3]",
  );
});

Deno.test("additive() gives the same scores when it works in blocks of query rows", async () => {
  // 300 rows × 300 keys × h 200 exceed one block (2^24 elements).
  const w1 = randomTensor([2, 200], 1), w2 = randomTensor([2, 200], 2);
  const v = randomTensor([200], 3);
  const q = randomTensor([300, 2], 4), k = randomTensor([300, 2], 5);
  const all = await values(scoresOf(additive({ w1, w2, v }), q, k));
  const tail = scoresOf(
    additive({ w1, w2, v }),
    slice(q, [290, 0], [10, 2]),
    k,
  );
  await assertAllClose(all.slice(290 * 300), tail, { atol: 1e-5 });
});

testEachBackend(
  "additive() with projectedKeys gives the same scores and gradients",
  async () => {
    const w1 = randomTensor([3, 4], 11), w2 = randomTensor([5, 4], 12);
    const v = randomTensor([4], 13), b = randomTensor([4], 14);
    const q = randomTensor([2, 3, 3], 15), k = randomTensor([2, 6, 5], 16);
    const plain = (qq: Tensor, kk: Tensor, ww: Tensor) =>
      sum(scoresOf(additive({ w1, w2: ww, v, b }), qq, kk));
    const projected = (qq: Tensor, kk: Tensor, ww: Tensor) =>
      sum(
        scoresOf(
          additive({ w1, w2: ww, v, b }, { projectedKeys: matmul(kk, ww) }),
          qq,
          kk,
        ),
      );
    await assertAllClose(
      scoresOf(
        additive({ w1, w2, v, b }, { projectedKeys: matmul(k, w2) }),
        q,
        k,
      ),
      await values(scoresOf(additive({ w1, w2, v, b }), q, k)),
      { atol: 1e-6 },
    );
    const gp = grad(plain, { argnums: [0, 1, 2] })(q, k, w2);
    const gq = grad(projected, { argnums: [0, 1, 2] })(q, k, w2);
    for (let i = 0; i < 3; i++) {
      await assertAllClose(gq[i]!, await values(gp[i]!), { atol: 1e-5 });
    }
    assertThrows(
      () =>
        scoresOf(
          additive({ w1, w2, v }, {
            projectedKeys: matmul(slice(k, [0, 0, 0], [2, 5, 5]), w2),
          }),
          q,
          k,
        ),
      TypeError,
      "projectedKeys [2,5,4] do not match keys [2,6,5]",
    );
  },
);
