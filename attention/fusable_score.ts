/**
 * `fusableScore`: gives a score function of your own the fused form that
 * lets `attention(spec)` run it as one flash kernel.
 *
 * @module
 */

import { withFusedScore } from "./_fused_forms.ts";
import type { FusedScoreForm, ScoreFn } from "./types.ts";

/**
 * Returns `fn` with a fused form: `form(q, k, ctx)` gives the query
 * matrices and keys (computed before the kernel) and the score as an
 * elementwise function of their dot products. Both must compute the same
 * scores; `fn` still runs on the composed path.
 *
 * @example A halved dot product, fused
 * ```ts
 * import { attention, explainAttention, fusableScore } from "@heed/heed/attention";
 * import { matmul, mul, tensor, transpose } from "@heed/heed/ops";
 * import { assertAlmostEquals, assertEquals } from "@std/assert";
 *
 * const half = fusableScore(
 *   (q, k) => mul(matmul(q, transpose(k)), 0.5),
 *   (q, k) => ({ queries: [q], keys: k, score: ([r]) => mul(r!, 0.5) }),
 * );
 * const shapes = { q: [2, 3], k: [4, 3], v: [4, 3] };
 * assertEquals(explainAttention({ score: half, fused: true }, shapes).path, "fused");
 * const q = tensor([[1, 0, 0], [0, 1, 0]]), k = tensor([[1, 0, 0], [0, 0, 1], [0, 1, 0], [1, 1, 0]]);
 * const fused = await attention({ score: half, fused: true })(q, k, k).output.data();
 * const composed = await attention({ score: half, fused: false })(q, k, k).output.data();
 * fused.forEach((x, i) => assertAlmostEquals(x, composed[i]!, 1e-6));
 * ```
 */
export function fusableScore(fn: ScoreFn, form: FusedScoreForm): ScoreFn {
  if (typeof fn !== "function" || typeof form !== "function") {
    throw new TypeError(
      "fusableScore: needs a score function and its fused form (two functions)",
    );
  }
  // A copy, so that fn itself keeps (or lacks) its own form.
  const copy: ScoreFn = (q, k, ctx) => fn(q, k, ctx);
  Object.defineProperty(copy, "name", { value: fn.name });
  return withFusedScore(copy, form);
}
