/**
 * Normalisers that let the seed's ratio train as a score. Taken as weights
 * (the identity normaliser, the source's exact form) the ratio
 * r_ij = (k_jᵀ Q q_i) / (√d + k_jᵀ q_i) is unbounded and its rows do not sum
 * to anything fixed, so the output's scale moves with the sentence and the
 * model does not learn. These keep r as the score and fix the scale.
 *
 * @module
 */

import { abs, div, maximum, sum, where } from "../ops/mod.ts";
import { checkOptions } from "../ops/_options.ts";
import { normaliser } from "./normalisers.ts";
import type { Normaliser } from "./types.ts";

/** Options of {@link signedSumNormaliser}. */
export interface SignedSumOptions {
  /** Smallest row total divided by (default 1e-6). */
  readonly eps?: number;
}

/**
 * Sign-preserving sum normalisation, w_ij = s_ij / Σ_j |s_ij| over the
 * visible keys: each row's absolute weights sum to 1, and a negative score
 * stays a negative weight (a key can be subtracted, as the source's ratio
 * allows). A row of zeros, or a fully masked row, gives zeros.
 *
 * @example
 * ```ts
 * import { attention, dot, signedSumNormaliser } from "@heed/heed/attention";
 * import { tensor } from "@heed/heed/ops";
 * import { assertEquals } from "@std/assert";
 *
 * const f = attention({ score: dot(), normalise: signedSumNormaliser() });
 * const q = tensor([[1]]), k = tensor([[3], [-1]]);
 * assertEquals(await f(q, k, k).weights.array(), [[0.75, -0.25]]);
 * ```
 */
export function signedSumNormaliser(opts: SignedSumOptions = {}): Normaliser {
  checkOptions("signedSumNormaliser", opts, ["eps"]);
  const eps = opts.eps ?? 1e-6;
  if (!(eps > 0)) {
    throw new RangeError(
      `signedSumNormaliser: eps must be positive, got ${eps}`,
    );
  }
  return normaliser(function signedSumNormalise(s, mask) {
    const z = mask ? where(mask, s, 0) : s; // [..., Tq, Tk]
    // Σ_j |s_ij| ≥ eps: a zero row stays zero instead of 0/0.
    const total = maximum(sum(abs(z), { axis: -1, keepdims: true }), eps);
    return div(z, total);
  }, { simplex: false, shiftInvariant: false, smooth: false });
}
