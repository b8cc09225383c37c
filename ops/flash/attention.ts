/**
 * Fused attention as ops: `softmax(score(q·kᵀ) masked) · v` computed tile
 * by tile by the `flash_attention` primitive, differentiable (q, k, v and
 * every float tensor the score closes over), batchable and jittable.
 *
 * @module
 */

import { bind } from "../core.ts";
import type { Tensor } from "../tensor.ts";
import { type FlashOptions, flashPlan, type FlashPlanned } from "./plan.ts";

function planned(
  op: string,
  q: Tensor,
  k: Tensor,
  v: Tensor,
  opts?: FlashOptions,
): FlashPlanned {
  const plan = flashPlan(q, k, v, opts);
  if ("reason" in plan) {
    throw new TypeError(
      `${op}: cannot fuse: ${plan.reason}; use attention with { fused: false }`,
    );
  }
  return plan;
}

/**
 * Attention of `q [..., Tq, d]` over `k [..., Tk, d]`, `v [..., Tk, dv]`:
 * `Σ_j P_ij v_j` with `P = softmax over visible keys of score(q·kᵀ)`
 * (or, with `normaliser: "none"`, the masked scores), `[..., Tq, dv]`.
 * Batch axes broadcast. A row with no visible key gives zeros.
 *
 * @example Scaled dot-product attention with a causal mask
 * ```ts
 * import { arange, flashAttention, greaterEqual, matmul, mul, reshape, softmax, tensor, transpose, where } from "@heed/heed";
 * import { assert } from "@std/assert";
 *
 * const q = tensor([[1, 0], [0, 1], [1, 1]]), k = q, v = tensor([[1, 2], [3, 4], [5, 6]]);
 * const causal = () => greaterEqual(reshape(arange(3), [3, 1]), arange(3));
 * const y = flashAttention(q, k, v, { score: ([r]) => mul(r!, 0.5), mask: causal });
 * const s = where(causal(), mul(matmul(q, transpose(k)), 0.5), -Infinity);
 * const want = matmul(softmax(s), v);
 * const [a, b] = [await y.data(), await want.data()];
 * assert(a.every((x, i) => Math.abs(x - b[i]!) < 1e-5));
 * ```
 */
export function flashAttention(
  q: Tensor,
  k: Tensor,
  v: Tensor,
  opts?: FlashOptions,
): Tensor {
  const { kernel, operands } = planned("flashAttention", q, k, v, opts);
  const y = bind("flash_attention", operands, {
    kernel,
    mode: "forward",
    index: 0,
  });
  // [..., Tq, dv + 1]: the output and the row statistic.
  return bind("slice", [y], {
    start: y.shape.map(() => 0),
    limit: y.shape.map((n, i) => (i === y.ndim - 1 ? n - 1 : n)),
  });
}

/**
 * The attention weights `P [..., Tq, Tk]` of {@link flashAttention} (for
 * inspection: this materialises them; not differentiable).
 *
 * @example Softmax weights of a plain dot-product score
 * ```ts
 * import { flashWeights, matmul, softmax, tensor, transpose } from "@heed/heed";
 * import { assert } from "@std/assert";
 *
 * const q = tensor([[1, 0], [0, 2]]), k = tensor([[1, 1], [0, 1], [2, 0]]);
 * const p = await flashWeights(q, k, k).data();
 * const want = await softmax(matmul(q, transpose(k))).data();
 * assert(p.every((x, i) => Math.abs(x - want[i]!) < 1e-6));
 * ```
 */
export function flashWeights(
  q: Tensor,
  k: Tensor,
  v: Tensor,
  opts?: FlashOptions,
): Tensor {
  const { kernel, operands } = planned("flashWeights", q, k, v, opts);
  return bind("flash_attention", operands, {
    kernel,
    mode: "weights",
    index: 0,
  });
}
