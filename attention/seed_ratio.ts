/**
 * The source document's weight function,
 *
 *     a_ij = (e_jᵀ Q e_i) / (√d + e_jᵀ e_i),     Q ∈ ℝ^{d×d},
 *
 * where e_i is the query and e_j the key. It is a score function; use it
 * with `normalise: identityNormaliser()` to take the formula as the weights, as the
 * source does, or with any other normaliser.
 *
 * ## The guard
 *
 * The denominator √d + e_jᵀ e_i is zero when e_jᵀ e_i = -√d and negative
 * beyond. heed keeps the formula exactly wherever |denominator| ≥ ε, and
 * inside the band |denominator| < ε replaces it by ε with the sign it had
 * (+ε at exactly 0):
 *
 *     den' = den               if |den| ≥ ε
 *          = ε · sign(den)     otherwise
 *
 * Why this choice and not a positive mapping such as softplus or max(den, ε):
 *
 * - The value equals the formula everywhere the formula is well conditioned,
 *   negative denominators included, so heed computes the seed's function
 *   and not a neighbour of it; a positive mapping would change every
 *   negative-denominator weight.
 * - Weights stay bounded: |a_ij| ≤ |e_jᵀ Q e_i| / ε, so nothing overflows
 *   to ±∞ and no NaN reaches the gradients.
 * - The only discontinuity is at den = 0, where the formula itself jumps
 *   from -∞ to +∞; the guard adds none of its own.
 * - Inside the band the denominator is constant, so its derivative there is
 *   0; the numerator (and so Q) still gets its gradient.
 *
 * @module
 */

import {
  abs,
  add,
  div,
  greaterEqual,
  less,
  matmul,
  type Tensor,
  where,
} from "../ops/mod.ts";
import { checkOptions } from "../ops/_options.ts";
import { type FusedScore, withFusedScore } from "./_fused_forms.ts";
import { lastDim, swapLast } from "./_shape.ts";
import type { ScoreFn } from "./types.ts";

/** Options of {@link seedRatio}. */
export interface SeedRatioOptions {
  /** Half-width of the band around a zero denominator (default 1e-2). */
  readonly eps?: number;
}

/**
 * The seed's ratio a_ij = (k_jᵀ Q q_i) / (√d + k_jᵀ q_i), with a
 * sign-preserving guard where |√d + k_jᵀ q_i| < ε (see the module notes).
 * `Q` is `[..., d, d]`.
 *
 * @example The seed's function, as weights
 * ```ts
 * import { attention, identityNormaliser, seedRatio } from "@heed/heed/attention";
 * import { eye, tensor } from "@heed/heed/ops";
 * import { assertAlmostEquals } from "@std/assert";
 *
 * // With Q = I: a_ij = e_j·e_i / (√d + e_j·e_i).
 * const seed = attention({ score: seedRatio(eye(4)), normalise: identityNormaliser() });
 * const e = tensor([[1, 0, 0, 0], [1, 1, 0, 0]]);
 * const w = await seed(e, e, e).weights.data();
 * assertAlmostEquals(w[1]!, 1 / (2 + 1), 1e-6); // a_01: e_1·e_0 = 1
 * assertAlmostEquals(w[3]!, 2 / (2 + 2), 1e-6); // a_11: e_1·e_1 = 2
 * ```
 */
export function seedRatio(q: Tensor, opts: SeedRatioOptions = {}): ScoreFn {
  checkOptions("seedRatio", opts, ["eps"]);
  const eps = opts.eps ?? 1e-2;
  if (!(eps > 0)) {
    throw new RangeError(`seedRatio: eps must be positive, got ${eps}`);
  }
  const bigQ = q;
  return withFusedScore(function seedRatioScore(e, f) {
    const d = seedDim(e, f);
    const fT = swapLast(f); // [..., d, Tk]
    // num_ij = Σ_ab k_jb Q_ba q_ia = (q Qᵀ kᵀ)_ij
    const num = matmul(matmul(e, swapLast(bigQ)), fT); // [..., Tq, Tk]
    return guardedRatio(num, matmul(e, fT), d, eps);
  }, (e, f) => seedRatioForm(e, f, bigQ, eps, (ratio) => ratio));
}

function seedDim(e: Tensor, f: Tensor): number {
  const d = lastDim("seedRatio", e, "q");
  if (lastDim("seedRatio", f, "k") !== d) {
    throw new TypeError(
      `seedRatio: q [${e.shape}] and k [${f.shape}] differ in their last axis`,
    );
  }
  return d;
}

/** num / guard(dot + √d), the guard of the module notes; `[..., Tq, Tk]`. */
function guardedRatio(num: Tensor, dot: Tensor, d: number, eps: number) {
  const den = add(dot, Math.sqrt(d)); // [..., Tq, Tk]
  const signedEps = where(greaterEqual(den, 0), eps, -eps);
  const safe = where(less(abs(den), eps), signedEps, den);
  return div(num, safe);
}

/**
 * The fused form of a score built on the ratio: `q_0 = q Qᵀ` and
 * `q_1 = q` go to the kernel, `r_0 = q Qᵀ kᵀ` is the numerator and
 * `r_1 = q kᵀ` the dot; `then(ratio, dot, d)` makes the score. Internal to
 * attention/.
 */
export function seedRatioForm(
  e: Tensor,
  f: Tensor,
  bigQ: Tensor,
  eps: number,
  then: (ratio: Tensor, dot: Tensor, d: number) => Tensor,
): FusedScore {
  const d = seedDim(e, f);
  return {
    queries: [matmul(e, swapLast(bigQ)), e],
    keys: f,
    score: ([num, dot]) => then(guardedRatio(num!, dot!, d, eps), dot!, d),
  };
}
