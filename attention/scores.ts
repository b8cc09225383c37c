/**
 * Score functions: how much each query "matches" each key, before any
 * modifier, mask or normaliser. Each is a factory returning a
 * {@link ScoreFn} `(q [..., Tq, dq], k [..., Tk, dk]) -> s [..., Tq, Tk]`.
 * Learnable ones capture their tensors; those tensors may carry leading
 * axes (for example one matrix per head, `[H, d, d]`) that broadcast
 * against the batch axes of q and k.
 *
 * @module
 */

import {
  add,
  expandDims,
  matmul,
  mul,
  rsqrt,
  sum,
  tanh,
  type Tensor,
} from "../ops/mod.ts";
import { checkOptions } from "../ops/_options.ts";
import { broadcastShapes } from "./_context.ts";
import { withFusedScore } from "./_fused_forms.ts";
import { byRows, lastDim, swapLast } from "./_shape.ts";
import type { ScoreFn } from "./types.ts";

function sameDim(op: string, q: Tensor, k: Tensor): number {
  const d = lastDim(op, q, "q"), dk = lastDim(op, k, "k");
  if (d !== dk) {
    throw new TypeError(
      `${op}: q [${q.shape}] and k [${k.shape}] differ in their last axis`,
    );
  }
  return d;
}

/**
 * Dot-product scores, s_ij = q_i · k_j.
 *
 * @example
 * ```ts
 * import { attention, dot, identityNormaliser } from "@heed/heed/attention";
 * import { tensor } from "@heed/heed/ops";
 * import { assertEquals } from "@std/assert";
 *
 * // With the identity normaliser the weights are the scores themselves.
 * const scores = attention({ score: dot(), normalise: identityNormaliser() });
 * const q = tensor([[1, 2]]), k = tensor([[3, 4], [1, 0]]);
 * assertEquals(await scores(q, k, k).weights.array(), [[11, 1]]);
 * ```
 */
export function dot(): ScoreFn {
  return withFusedScore(function dotScore(q, k) {
    sameDim("dot", q, k);
    return matmul(q, swapLast(k)); // [..., Tq, d] @ [..., d, Tk] = [..., Tq, Tk]
  }, (q, k) => {
    sameDim("dot", q, k);
    return { queries: [q], keys: k, score: ([r]) => r! };
  });
}

/**
 * Scaled dot-product scores (Vaswani et al.), s_ij = q_i · k_j / √d, or
 * times `scale` when given.
 *
 * @example
 * ```ts
 * import { attention, identityNormaliser, scaledDot } from "@heed/heed/attention";
 * import { tensor } from "@heed/heed/ops";
 * import { assertEquals } from "@std/assert";
 *
 * const scores = attention({ score: scaledDot(), normalise: identityNormaliser() });
 * const q = tensor([[1, 1, 1, 1]]), k = tensor([[1, 2, 3, 4]]);
 * assertEquals(await scores(q, k, k).weights.array(), [[10 / 2]]);
 * ```
 */
export function scaledDot(scale?: number | Tensor): ScoreFn {
  return withFusedScore(function scaledDotScore(q, k) {
    const d = sameDim("scaledDot", q, k);
    return mul(matmul(q, swapLast(k)), scale ?? 1 / Math.sqrt(d));
  }, (q, k) => {
    const d = sameDim("scaledDot", q, k);
    const c = scale ?? 1 / Math.sqrt(d);
    return { queries: [q], keys: k, score: ([r]) => mul(r!, c) };
  });
}

/** Parameters of {@link additive}. */
export interface AdditiveParams {
  /** Query projection `[..., dq, h]`. */
  readonly w1: Tensor;
  /** Key projection `[..., dk, h]`. */
  readonly w2: Tensor;
  /** Output vector `[..., h]`. */
  readonly v: Tensor;
  /** Optional bias inside the tanh, `[..., h]`. */
  readonly b?: Tensor;
}

/** Options of {@link additive}. */
export interface AdditiveOptions {
  /**
   * `matmul(k, w2)` computed once by the caller, `[..., Tk, h]`, for the
   * keys this score will be called with. A recurrent decoder attends to the
   * same keys at every step: projecting them once saves a `Tk·dk·h` matmul
   * per step, and its residuals under differentiation. The score then never
   * reads `k` or `w2`; the result is the same.
   */
  readonly projectedKeys?: Tensor;
}

/**
 * Additive scores (Bahdanau et al.), s_ij = vᵀ tanh(W₁ᵀ q_i + W₂ᵀ k_j + b).
 * It builds a `[..., Tq, Tk, h]` intermediate (in blocks of query rows when
 * large), so its cost grows as Tq·Tk·h.
 *
 * @example
 * ```ts
 * import { additive, attention, identityNormaliser } from "@heed/heed/attention";
 * import { eye, ones, tensor } from "@heed/heed/ops";
 * import { assertAlmostEquals } from "@std/assert";
 *
 * const score = additive({ w1: eye(2), w2: eye(2), v: ones([2]) });
 * const scores = attention({ score, normalise: identityNormaliser() });
 * const q = tensor([[0.5, 0]]), k = tensor([[0, 0.5]]);
 * const [s] = await scores(q, k, k).weights.data();
 * assertAlmostEquals(s!, 2 * Math.tanh(0.5), 1e-6);
 * ```
 */
export function additive(
  params: AdditiveParams,
  opts: AdditiveOptions = {},
): ScoreFn {
  checkOptions("additive: params", params, ["w1", "w2", "v", "b"]);
  checkOptions("additive", opts, ["projectedKeys"]);
  const { w1, w2, v, b } = params;
  return withFusedScore(
    function additiveScore(q, k) {
      lastDim("additive", q, "q");
      lastDim("additive", k, "k");
      const pk = opts.projectedKeys;
      if (pk && pk.shape[pk.ndim - 2] !== k.shape[k.ndim - 2]) {
        throw new TypeError(
          `additive: projectedKeys [${pk.shape}] do not match keys [${k.shape}]`,
        );
      }
      const kh = expandDims(pk ?? matmul(k, w2), -3); // [..., 1, Tk, h]
      const vv = expandDims(expandDims(v, -2), -2); // [..., 1, 1, h]
      const rows = (qr: Tensor) => {
        let pre = add(expandDims(matmul(qr, w1), -2), kh); // [..., rows, Tk, h]
        if (b) pre = add(pre, expandDims(expandDims(b, -2), -2));
        return sum(mul(tanh(pre), vv), { axis: -1 }); // [..., rows, Tk]
      };
      // Blocks of query rows keep the [..., rows, Tk, h] intermediate bounded.
      const tk = k.shape[k.ndim - 2]!, h = kh.shape[kh.ndim - 1]!;
      const lead = broadcastShapes(
        "additive",
        q.shape.slice(0, -2),
        kh.shape.slice(0, -3),
      );
      const batch = lead.reduce((a, n) => a * n, 1);
      return byRows(q, batch * tk * h, rows);
    },
    "additive scores run a hidden layer per pair (a [Tq, Tk, h] tanh), which is not a function of dot products",
  );
}

/**
 * Bilinear ("general", Luong et al.) scores, s_ij = q_iᵀ W k_j, with W
 * `[..., dq, dk]`.
 *
 * @example
 * ```ts
 * import { attention, bilinear, identityNormaliser } from "@heed/heed/attention";
 * import { tensor } from "@heed/heed/ops";
 * import { assertEquals } from "@std/assert";
 *
 * const W = tensor([[0, 1], [1, 0]]);
 * const scores = attention({ score: bilinear(W), normalise: identityNormaliser() });
 * const q = tensor([[1, 2]]), k = tensor([[3, 4]]);
 * assertEquals(await scores(q, k, k).weights.array(), [[1 * 4 + 2 * 3]]);
 * ```
 */
export function bilinear(w: Tensor): ScoreFn {
  return withFusedScore(function bilinearScore(q, k) {
    lastDim("bilinear", q, "q");
    lastDim("bilinear", k, "k");
    return matmul(matmul(q, w), swapLast(k)); // [..., Tq, dk] @ [..., dk, Tk]
  }, (q, k) => {
    lastDim("bilinear", q, "q");
    lastDim("bilinear", k, "k");
    // q W is computed outside the kernel: s_ij = (q W)_i · k_j.
    return { queries: [matmul(q, w)], keys: k, score: ([r]) => r! };
  });
}

/** Options of {@link cosine}. */
export interface CosineOptions {
  /** Added under the square root of each norm, so zero vectors stay finite (default 1e-6). */
  readonly eps?: number;
}

/**
 * Cosine-similarity scores times a (learnable) scale,
 * s_ij = scale · q_i · k_j / (‖q_i‖ ‖k_j‖). A scale is needed because
 * cosines lie in [-1, 1], too flat for softmax to pick sharply.
 *
 * @example
 * ```ts
 * import { attention, cosine, identityNormaliser } from "@heed/heed/attention";
 * import { tensor } from "@heed/heed/ops";
 * import { assertAlmostEquals } from "@std/assert";
 *
 * const scores = attention({ score: cosine(10), normalise: identityNormaliser() });
 * const q = tensor([[3, 4]]), k = tensor([[6, 8], [-4, 3]]);
 * const [same, orthogonal] = await scores(q, k, k).weights.data();
 * assertAlmostEquals(same!, 10, 1e-5);
 * assertAlmostEquals(orthogonal!, 0, 1e-5);
 * ```
 */
export function cosine(
  scale: number | Tensor = 1,
  opts: CosineOptions = {},
): ScoreFn {
  checkOptions("cosine", opts, ["eps"]);
  const eps = opts.eps ?? 1e-6;
  // x / ‖x‖ along the last axis, smooth at 0 thanks to eps.
  const unit = (x: Tensor) =>
    mul(x, rsqrt(add(sum(mul(x, x), { axis: -1, keepdims: true }), eps)));
  return withFusedScore(function cosineScore(q, k) {
    sameDim("cosine", q, k);
    return mul(matmul(unit(q), swapLast(unit(k))), scale);
  }, (q, k) => {
    sameDim("cosine", q, k);
    // The norms are taken outside the kernel; the kernel scales the dots.
    return {
      queries: [unit(q)],
      keys: unit(k),
      score: ([r]) => mul(r!, scale),
    };
  });
}
