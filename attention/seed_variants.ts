/**
 * Normalisers that let the seed's ratio train as a score. Taken as weights
 * (the identity normaliser, the source's exact form) the ratio
 * r_ij = (k_jᵀ Q q_i) / (√d + k_jᵀ q_i) is unbounded and its rows do not sum
 * to anything fixed, so the output's scale moves with the sentence and the
 * model does not learn. These keep r as the score and fix the scale.
 *
 * @module
 */

import {
  abs,
  add,
  div,
  exp,
  log1p,
  maximum,
  minimum,
  mul,
  neg,
  sum,
  type Tensor,
  where,
} from "../ops/mod.ts";
import { checkOptions } from "../ops/_options.ts";
import { normaliser } from "./normalisers.ts";
import { scaledDot } from "./scores.ts";
import {
  seedRatio,
  seedRatioForm,
  type SeedRatioOptions,
} from "./seed_ratio.ts";
import { withFusedNormaliser, withFusedScore } from "./_fused_forms.ts";
import type { Normaliser, ScoreFn } from "./types.ts";

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
  const n = normaliser(function signedSumNormalise(s, mask) {
    const z = mask ? where(mask, s, 0) : s; // [..., Tq, Tk]
    // Σ_j |s_ij| ≥ eps: a zero row stays zero instead of 0/0.
    const total = maximum(sum(abs(z), { axis: -1, keepdims: true }), eps);
    return div(z, total);
  }, { simplex: false, shiftInvariant: false, smooth: false });
  return withFusedNormaliser(
    n,
    "signedSumNormaliser divides each row by Σ|s|, a row total that the flash kernel (softmax or none) does not compute",
  );
}

/** log σ(x) = min(x, 0) − log(1 + e^−|x|), without overflow for large |x|. */
function logSigmoid(x: Tensor): Tensor {
  return add(minimum(x, 0), neg(log1p(exp(neg(abs(x))))));
}

/**
 * The seed's ratio gating a softmax: the score is
 *
 *     s_ij = q_i·k_j / √d + log σ(r_ij),   r_ij the seed's ratio with `Q`,
 *
 * so that softmax gives w_ij ∝ exp(q_i·k_j/√d) · σ(r_ij): the ratio decides
 * how much of each key passes (σ(r) in (0, 1)), the softmax keeps the rows
 * normalised. Where the ratio is large σ(r) → 1 and the weights are the
 * scaled dot product's; a key with a very negative ratio is shut off.
 *
 * @example
 * ```ts
 * import { attention, seedGated } from "@heed/heed/attention";
 * import { eye, tensor } from "@heed/heed/ops";
 * import { assertAlmostEquals } from "@std/assert";
 *
 * const f = attention({ score: seedGated(eye(1)) });
 * const q = tensor([[1]]), k = tensor([[1], [-0.5]]);
 * // r = q·k / (1 + q·k): 0.5 and -1; weights ∝ e^{q·k} σ(r)
 * const sig = (x: number) => 1 / (1 + Math.exp(-x));
 * const a = Math.exp(1) * sig(0.5), b = Math.exp(-0.5) * sig(-1);
 * const [w0] = await f(q, k, k).weights.data();
 * assertAlmostEquals(w0!, a / (a + b), 1e-5);
 * ```
 */
export function seedGated(q: Tensor, opts: SeedRatioOptions = {}): ScoreFn {
  const ratio = seedRatio(q, opts), dot = scaledDot();
  const eps = opts.eps ?? 1e-2;
  return withFusedScore(
    function seedGatedScore(e, f, ctx) {
      return add(dot(e, f, ctx), logSigmoid(ratio(e, f, ctx))); // [..., Tq, Tk]
    },
    (e, f) =>
      seedRatioForm(
        e,
        f,
        q,
        eps,
        (r, dotp, d) => add(mul(dotp, 1 / Math.sqrt(d)), logSigmoid(r)),
      ),
  );
}
