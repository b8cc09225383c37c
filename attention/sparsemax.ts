/**
 * Sparsemax (Martins & Astudillo, 2016): the Euclidean projection of the
 * scores onto the probability simplex,
 *
 *     w = argmin_{p ∈ Δ} ‖p − z‖²  =  max(z − τ, 0),
 *
 * where the threshold τ makes the weights sum to 1. Unlike softmax it gives
 * exact zeros, so attention becomes sparse when the scores are peaked.
 *
 * ## The threshold without a sort
 *
 * The usual algorithm sorts z. heed has no sort primitive, so it uses the
 * equivalent all-pairs form. For each element i of a row:
 *
 *     k_i = Σ_j [z_j ≥ z_i]              (its rank, ties counted together)
 *     c_i = Σ_j [z_j ≥ z_i] · z_j        (the sum of the elements above it)
 *     i ∈ S  ⇔  1 + k_i z_i > c_i        (the support)
 *     τ = (Σ_{i∈S} z_i − 1) / |S|
 *
 * This is exact (no iteration, no tolerance). It compares all pairs, so it
 * costs Tk² per query row; large inputs are processed in blocks of query
 * rows so that the `[..., rows, Tk, Tk]` intermediate stays bounded.
 *
 * ## Large scores
 *
 * Both the support test and τ add 1 to sums of scores. In float32 a score
 * of 1.7e7 absorbs that 1 (1 + 1.7e7 = 1.7e7), so each row is first shifted
 * by its largest visible score: sparsemax is shift invariant, the shifted
 * scores are ≤ 0 with a 0 at the top, and the 1 is never lost. The shift
 * carries no gradient (the weights do not depend on it).
 *
 * ## The gradient
 *
 * The support S is piecewise constant in z, so autodiff through the formula
 * above differentiates only τ and z − τ and yields the known Jacobian
 *
 *     ∂w_i/∂z_j = [i ∈ S]([i = j] − [j ∈ S] / |S|),
 *
 * in both forward and reverse mode. It is exact away from ties and from the
 * boundary of the support, where sparsemax has kinks.
 *
 * @module
 */

import {
  add,
  broadcastTo,
  cast,
  div,
  equal,
  expandDims,
  greater,
  greaterEqual,
  max,
  maximum,
  mul,
  stopGradient,
  sub,
  sum,
  type Tensor,
  where,
} from "../ops/mod.ts";
import { scopeLocal } from "../ops/memory.ts";
import { broadcastShapes } from "./_context.ts";
import { byRows } from "./_shape.ts";
import { normaliser } from "./normalisers.ts";
import { withFusedNormaliser } from "./_fused_forms.ts";
import type { Normaliser } from "./types.ts";

/**
 * Sparsemax over the keys of each query: weights on the simplex with exact
 * zeros. Masked keys take no part in the projection and get 0; a fully
 * masked row gets zeros.
 *
 * @example Peaked scores give a sparse row
 * ```ts
 * import { attention, dot, sparsemaxNormaliser } from "@heed/heed/attention";
 * import { tensor } from "@heed/heed/ops";
 * import { assertEquals } from "@std/assert";
 *
 * const f = attention({ score: dot(), normalise: sparsemaxNormaliser() });
 * const q = tensor([[1]]), k = tensor([[2], [1.5], [0]]);
 * // τ = (2 + 1.5 − 1) / 2 = 1.25
 * assertEquals(await f(q, k, k).weights.array(), [[0.75, 0.25, 0]]);
 * ```
 */
export function sparsemaxNormaliser(): Normaliser {
  const n = normaliser(function sparsemaxNormalise(s, mask) {
    const visible = mask ? broadcastMask(mask, s) : null;
    // The support is piecewise constant: it needs no gradient, and masked
    // keys (−∞) are never counted and never chosen.
    const zm = stopGradient(visible ? where(visible, s, -Infinity) : s);
    // Shift by the row's top visible score (0 for a fully masked row), so
    // that the +1 below is not absorbed by large scores.
    const top = max(zm, { axis: -1, keepdims: true }); // [..., Tq, 1]
    const m = where(equal(top, -Infinity), 0, top);
    const zs = sub(zm, m); // ≤ 0, masked −∞
    const tk = s.shape[s.ndim - 1]!;
    const perRow = tk * tk * zs.shape.slice(0, -2).reduce((a, b) => a * b, 1);
    // Each block's [..., rows, Tk, Tk] comparisons are freed as soon as its
    // support is known, also under grad: they are made from stop-gradient
    // values, so no transform keeps them (the memory bound holds in training).
    const support = byRows(
      zs,
      perRow,
      (rows) => scopeLocal(() => supportOf(rows)),
    ); // bool [..., Tq, Tk]
    // τ = (Σ_{i∈S} z_i − 1) / |S| on the shifted scores, differentiable in z
    // through the sum.
    const z = sub(visible ? where(visible, s, 0) : s, m); // [..., Tq, Tk]
    const size = sum(cast(support, "float32"), { axis: -1, keepdims: true }); // [..., Tq, 1]
    const tau = div(
      sub(sum(where(support, z, 0), { axis: -1, keepdims: true }), 1),
      maximum(size, 1), // an empty support only happens in a fully masked row
    );
    // z_i − τ > 0 on S in exact arithmetic; the max guards the last ulp.
    return where(support, maximum(sub(z, tau), 0), 0);
  }, { simplex: true, shiftInvariant: true, smooth: false });
  return withFusedNormaliser(
    n,
    "sparsemaxNormaliser needs each row's threshold τ from all its scores at once, which the flash kernel (online softmax or none) does not compute",
  );
}

/**
 * The support of each row of `z [..., T, Tk]` (masked entries −∞):
 * i ∈ S ⇔ 1 + k_i z_i > c_i with k_i = Σ_j [z_j ≥ z_i], c_i = Σ_j [z_j ≥ z_i] z_j.
 */
function supportOf(z: Tensor): Tensor {
  const zi = expandDims(z, -1); // [..., T, Tk(i), 1]
  const zj = expandDims(z, -2); // [..., T, 1, Tk(j)]
  const above = greaterEqual(zj, zi); // [..., T, Tk, Tk]
  const k = sum(above, { axis: -1 }); // int32 [..., T, Tk]
  const c = sum(where(above, zj, 0), { axis: -1 }); // [..., T, Tk]
  // k ≥ 1 (z_i ≥ z_i), so k·z_i is never 0·(−∞).
  return greater(add(mul(k, z), 1), c);
}

/** The mask broadcast to the shape it and the scores make together. */
function broadcastMask(mask: Tensor, s: Tensor): Tensor {
  return broadcastTo(mask, broadcastShapes("sparsemax", mask.shape, s.shape));
}
