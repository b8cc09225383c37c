/**
 * The source document's weight function,
 *
 *     a_ij = (e_jᵀ Q e_i) / (√d + e_jᵀ e_i),
 *
 * as a heed spec: `seedRatio(Q)` is the score and `identityNormaliser()` makes the
 * formula the weights. The example checks it against a direct loop,
 * shows the guard where the denominator crosses zero, and fits Q by
 * gradient descent. Run: `deno run examples/attention_seed.ts`.
 *
 * @module
 */

import { attention, identityNormaliser, seedRatio } from "@heed/heed/attention";
import {
  grad,
  key,
  mul,
  normal,
  sub,
  sum,
  type Tensor,
  tensor,
} from "@heed/heed/ops";
import { assert, assertAlmostEquals } from "@std/assert";

/** The seed's attention function for a given Q. */
export function seed(q: Tensor): ReturnType<typeof attention> {
  return attention({ score: seedRatio(q), normalise: identityNormaliser() });
}

/** Runs the example, asserting what it shows; `log` prints. */
export async function main(
  log: (line: string) => void = console.log,
): Promise<void> {
  const d = 3, t = 4;
  const e = mul(normal(key(4), [t, d]), 0.5); // embeddings e_1..e_T
  const Q = normal(key(5), [d, d]);

  // 1. The formula, by loops, against the spec.
  const E = await e.data(), Qv = await Q.data();
  const w = await seed(Q)(e, e, e).weights.data();
  for (let i = 0; i < t; i++) {
    for (let j = 0; j < t; j++) {
      let num = 0, dot = 0;
      for (let a = 0; a < d; a++) {
        dot += E[j * d + a]! * E[i * d + a]!;
        for (let b = 0; b < d; b++) {
          num += E[j * d + a]! * Qv[a * d + b]! * E[i * d + b]!;
        }
      }
      assertAlmostEquals(w[i * t + j]!, num / (Math.sqrt(d) + dot), 1e-4);
    }
  }
  log("seedRatio equals the formula evaluated by loops");

  // 2. The guard: e_j·e_i = −√d makes the denominator 0; heed uses +ε there
  // (ε = 0.01), keeps the sign just below, and the formula everywhere else.
  const one = tensor([[1]]), I = tensor([[1]]);
  for (const f of [-1, -0.995, -1.005, -3]) {
    const a = await seed(I)(one, tensor([[f]]), tensor([[0]])).weights
      .item() as number;
    assert(Number.isFinite(a));
    log(`den = ${(1 + f).toFixed(3)}: a = ${a.toFixed(2)}`);
  }

  // 3. Fit Q so that the seed's weights approach a target pattern.
  const target = tensor(
    [...Array(t * t)].map((_, k) => (k % (t + 1) === 0 ? 1 : 0)),
    { shape: [t, t] },
  );
  const loss = (q: Tensor) => {
    const diff = sub(seed(q)(e, e, e).weights, target);
    return sum(mul(diff, diff));
  };
  let q = Q;
  const first = await loss(q).item() as number;
  for (let step = 0; step < 30; step++) q = sub(q, mul(grad(loss)(q), 0.05));
  const last = await loss(q).item() as number;
  log(`fitting Q: loss ${first.toFixed(4)} → ${last.toFixed(4)}`);
  assert(last < first, "gradient descent on Q lowers the loss");
}

if (import.meta.main) await main();
