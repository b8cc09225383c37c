/**
 * Normalisers turn scores into weights, honouring the mask: a masked
 * position gets exactly 0, and a row with no visible key gets all zeros,
 * never NaN. Each carries the {@link NormaliserLaws} it satisfies, which
 * the law checker in `@heed/heed/testing` uses.
 *
 * @module
 */

import {
  add,
  div,
  equal,
  exp,
  max,
  sigmoid as logistic,
  stopGradient,
  sub,
  sum,
  type Tensor,
  where,
} from "../ops/mod.ts";
import { checkOptions } from "../ops/_options.ts";
import { withFusedNormaliser } from "./_fused_forms.ts";
import type { Context, Normaliser, NormaliserLaws } from "./types.ts";

/**
 * Makes a normaliser from a function and the laws it satisfies (which
 * `checkAttentionLaws` then tests). The function must give masked
 * positions exactly 0 and fully masked rows zeros.
 *
 * @example A user's normaliser: weights = tanh of positive scores
 * ```ts
 * import { attention, dot, normaliser } from "@heed/heed/attention";
 * import { relu, tanh, tensor, where } from "@heed/heed/ops";
 * import { assertAlmostEquals } from "@std/assert";
 *
 * const squash = normaliser(
 *   (s, mask) => {
 *     const w = tanh(relu(s));
 *     return mask ? where(mask, w, 0) : w;
 *   },
 *   { simplex: false, shiftInvariant: false, smooth: false },
 * );
 * const f = attention({ score: dot(), normalise: squash });
 * const q = tensor([[1]]), k = tensor([[0.5], [-2]]);
 * const [a, b] = await f(q, k, k).weights.data();
 * assertAlmostEquals(a!, Math.tanh(0.5), 1e-6);
 * assertAlmostEquals(b!, 0, 1e-6);
 * ```
 */
export function normaliser(
  fn: (s: Tensor, mask: Tensor | null, ctx: Context) => Tensor,
  laws: NormaliserLaws,
): Normaliser {
  return Object.assign(fn, { laws });
}

/**
 * Softmax over the keys of each query, with the mask applied inside:
 *
 *     w_ij = exp(s_ij − m_i) / Σ_{j visible} exp(s_ij − m_i),   m_i = max over visible j
 *
 * Masked scores become −∞ before the max; a fully masked row has
 * Σ = 0, which is replaced by 1 so the row is 0/1 = 0 and its gradient is
 * finite. The max carries no gradient: softmax does not depend on it.
 *
 * @example
 * ```ts
 * import { attention, dot, softmaxNormaliser } from "@heed/heed/attention";
 * import { tensor } from "@heed/heed/ops";
 * import { assertAlmostEquals } from "@std/assert";
 *
 * const f = attention({ score: dot(), normalise: softmaxNormaliser() });
 * const q = tensor([[1]]), k = tensor([[0], [Math.log(3)]]);
 * const [a, b] = await f(q, k, k).weights.data();
 * assertAlmostEquals(a!, 1 / 4, 1e-6);
 * assertAlmostEquals(b!, 3 / 4, 1e-6);
 * ```
 */
export function softmaxNormaliser(): Normaliser {
  const n = normaliser(function softmaxNormalise(s, mask) {
    const z = mask ? where(mask, s, -Infinity) : s; // [..., Tq, Tk]
    const m = stopGradient(max(z, { axis: -1, keepdims: true })); // [..., Tq, 1]
    const e = exp(sub(z, where(equal(m, -Infinity), 0, m)));
    const total = sum(e, { axis: -1, keepdims: true }); // [..., Tq, 1]
    const w = div(e, where(equal(total, 0), 1, total));
    return mask ? where(mask, w, 0) : w;
  }, { simplex: true, shiftInvariant: true, smooth: true });
  return withFusedNormaliser(n, { kind: "softmax" });
}

/** Options of {@link sigmoidNormaliser}. */
export interface SigmoidNormaliserOptions {
  /** Added to every score before the sigmoid, e.g. −log(Tk) (default 0). */
  readonly bias?: number | Tensor;
}

/**
 * Elementwise sigmoid weights, w_ij = σ(s_ij + b): each key is weighed on
 * its own, rows need not sum to 1 (Ramapuram et al., "sigmoid attention").
 *
 * @example
 * ```ts
 * import { attention, dot, sigmoidNormaliser } from "@heed/heed/attention";
 * import { tensor } from "@heed/heed/ops";
 * import { assertEquals } from "@std/assert";
 *
 * const f = attention({ score: dot(), normalise: sigmoidNormaliser() });
 * const q = tensor([[1]]), k = tensor([[0], [0]]);
 * assertEquals(await f(q, k, k).weights.array(), [[0.5, 0.5]]);
 * ```
 */
export function sigmoidNormaliser(
  opts: SigmoidNormaliserOptions = {},
): Normaliser {
  checkOptions("sigmoidNormaliser", opts, ["bias"]);
  const b = opts.bias ?? 0;
  const n = normaliser(function sigmoidNormalise(s, mask) {
    const w = logistic(add(s, b));
    return mask ? where(mask, w, 0) : w;
  }, { simplex: false, shiftInvariant: false, smooth: true });
  // Elementwise: it folds into the kernel's score, which then needs no softmax.
  return withFusedNormaliser(n, {
    kind: "elementwise",
    fn: (s) => logistic(add(s, b)),
  });
}

/**
 * The scores are the weights, w_ij = s_ij (0 where masked). Use it when the
 * score function already is a weight function, as `seedRatio` is in the
 * source document.
 *
 * @example
 * ```ts
 * import { attention, causal, dot, identityNormaliser } from "@heed/heed/attention";
 * import { tensor } from "@heed/heed/ops";
 * import { assertEquals } from "@std/assert";
 *
 * const f = attention({ score: dot(), masks: [causal()], normalise: identityNormaliser() });
 * const x = tensor([[1], [2]]);
 * assertEquals(await f(x, x, x).weights.array(), [[1, 0], [2, 4]]);
 * ```
 */
export function identityNormaliser(): Normaliser {
  const n = normaliser(function identityNormalise(s, mask) {
    return mask ? where(mask, s, 0) : s;
  }, { simplex: false, shiftInvariant: false, smooth: true });
  return withFusedNormaliser(n, { kind: "elementwise", fn: (s) => s });
}
