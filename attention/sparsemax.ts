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
 * This is exact (no iteration, no tolerance). It costs a `[..., Tq, Tk, Tk]`
 * intermediate, so memory grows as Tk² per query row.
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
  expandDims,
  greater,
  greaterEqual,
  logicalAnd,
  maximum,
  mul,
  sub,
  sum,
  type Tensor,
  where,
} from "../ops/mod.ts";
import { broadcastShapes } from "./_context.ts";
import { normaliser } from "./normalisers.ts";
import type { Normaliser } from "./types.ts";

/**
 * Sparsemax over the keys of each query: weights on the simplex with exact
 * zeros. Masked keys take no part in the projection and get 0; a fully
 * masked row gets zeros.
 *
 * @example Peaked scores give a sparse row
 * ```ts
 * import { attention, dot, sparsemax } from "@heed/heed/attention";
 * import { tensor } from "@heed/heed/ops";
 * import { assertEquals } from "@std/assert";
 *
 * const f = attention({ score: dot(), normalise: sparsemax() });
 * const q = tensor([[1]]), k = tensor([[2], [1.5], [0]]);
 * // τ = (2 + 1.5 − 1) / 2 = 1.25
 * assertEquals(await f(q, k, k).weights.array(), [[0.75, 0.25, 0]]);
 * ```
 */
export function sparsemax(): Normaliser {
  return normaliser(function sparsemaxNormalise(s, mask) {
    const visible = mask ? broadcastMask(mask, s) : null;
    // Masked entries are neutral: 0 in the sums and never counted.
    const z = visible ? where(visible, s, 0) : s; // [..., Tq, Tk]
    const zi = expandDims(z, -1); // [..., Tq, Tk(i), 1]
    const zj = expandDims(z, -2); // [..., Tq, 1, Tk(j)]
    let above = cast(greaterEqual(zj, zi), "float32"); // [..., Tq, Tk, Tk]
    if (visible) above = mul(above, expandDims(cast(visible, "float32"), -2));
    const k = sum(above, { axis: -1 }); // [..., Tq, Tk]
    const c = sum(mul(above, zj), { axis: -1 }); // [..., Tq, Tk]
    let support = greater(add(mul(k, z), 1), c); // [..., Tq, Tk]
    if (visible) support = logicalAnd(support, visible);
    const inS = cast(support, "float32");
    const size = sum(inS, { axis: -1, keepdims: true }); // [..., Tq, 1]
    const tau = div(
      sub(sum(mul(inS, z), { axis: -1, keepdims: true }), 1),
      maximum(size, 1), // an empty support only happens in a fully masked row
    );
    // z_i − τ > 0 on S in exact arithmetic; the max guards the last ulp.
    return where(support, maximum(sub(z, tau), 0), 0);
  }, { simplex: true, shiftInvariant: true, smooth: false });
}

/** The mask broadcast to the shape it and the scores make together. */
function broadcastMask(mask: Tensor, s: Tensor): Tensor {
  return broadcastTo(mask, broadcastShapes("sparsemax", mask.shape, s.shape));
}
