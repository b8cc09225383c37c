/**
 * Multi-module attention, A(x) = [A_1(x), ..., A_K(x)]: several attention
 * functions see the same q, k, v and a combiner merges their results.
 *
 * For the mixtures the merged weights are exact, not a summary: since each
 * module's output is w_k @ v,
 *
 *     Σ_k g_k (w_k @ v) = (Σ_k g_k w_k) @ v,
 *
 * so `weights` is the one matrix that produced `output` (without dropout).
 *
 * @module
 */

import {
  add,
  concat,
  expandDims,
  matmul,
  mul,
  softmax,
  stack,
  sum,
  type Tensor,
  tensor,
} from "../ops/mod.ts";
import { checkOptions } from "../ops/_options.ts";
import {
  CALL_OPTIONS,
  checkAllRead,
  type Reads,
  SHARED_READS,
  sharedReads,
} from "./_context.ts";
import { lazyResult } from "./_fused_forms.ts";
import type { AttentionFn, AttentionResult } from "./types.ts";

/** Merges the K modules' results; `q` is the queries they all saw. */
export type Combine = (
  parts: readonly AttentionResult[],
  q: Tensor,
) => AttentionResult;

/**
 * Runs every module on the same inputs and merges them with `combine`.
 *
 * @example Two modules, averaged
 * ```ts
 * import { attention, causal, dot, mixture, modules } from "@heed/heed/attention";
 * import { key, normal } from "@heed/heed/ops";
 * import { assertEquals } from "@std/assert";
 *
 * const local = attention({ score: dot(), masks: [causal()] });
 * const global = attention({ score: dot() });
 * const both = modules([local, global], mixture([0.5, 0.5]));
 * const x = normal(key(1), [3, 2]);
 * const { weights } = both(x, x, x);
 * assertEquals(weights.shape, [3, 3]);
 * ```
 */
export function modules(
  parts: readonly AttentionFn[],
  combine: Combine,
): AttentionFn {
  if (parts.length === 0) {
    throw new TypeError("modules: needs at least one attention function");
  }
  return function multiModule(q, k, v, opts = {}) {
    checkOptions("modules", opts, CALL_OPTIONS);
    // Per-call data must be read by at least one module, not by each.
    const reads: Reads = { keys: new Set(), calls: 0 };
    const shared = { ...opts, [SHARED_READS]: reads };
    const results = parts.map((a) => a(q, k, v, shared));
    // A part that is not an attention(spec) function does not report: then
    // what was read is unknown, and nothing is checked.
    if (reads.calls === parts.length) {
      const outer = sharedReads(opts);
      if (outer) {
        reads.keys.forEach((name) => outer.keys.add(name));
        outer.calls++;
      } else {
        checkAllRead("modules", opts, reads.keys);
      }
    }
    return combine(results, q);
  };
}

/**
 * Concatenates the modules' outputs along the features,
 * `[..., Tq, K·dv]`, and stacks their weights, `[..., K, Tq, Tk]`.
 *
 * @example
 * ```ts
 * import { attention, concatenate, dot, modules, sigmoidNormaliser } from "@heed/heed/attention";
 * import { ones } from "@heed/heed/ops";
 * import { assertEquals } from "@std/assert";
 *
 * const both = modules([attention({ score: dot() }), attention({ score: dot(), normalise: sigmoidNormaliser() })], concatenate());
 * const { output, weights } = both(ones([2, 3]), ones([4, 3]), ones([4, 5]));
 * assertEquals(output.shape, [2, 10]);
 * assertEquals(weights.shape, [2, 2, 4]);
 * ```
 */
export function concatenate(): Combine {
  return function concatenateCombine(parts) {
    return lazyResult(
      concat(parts.map((p) => p.output), -1), // [..., Tq, K·dv]
      () => stack(parts.map((p) => p.weights), -3), // [..., K, Tq, Tk]
    );
  };
}

/** Σ_k g[..., k] · x_k, with the K parts stacked on a new last axis. */
function mix(xs: readonly Tensor[], g: Tensor): Tensor {
  const stacked = stack(xs, -1); // [..., Tq, n, K]
  return sum(mul(stacked, expandDims(g, -2)), { axis: -1 }); // [..., Tq, n]
}

/**
 * A fixed convex (or any) mixture, output = Σ_k α_k out_k. With a tensor
 * α the mixture is learnable.
 *
 * @example
 * ```ts
 * import { attention, dot, identityNormaliser, mixture, modules } from "@heed/heed/attention";
 * import { tensor } from "@heed/heed/ops";
 * import { assertEquals } from "@std/assert";
 *
 * const a = attention({ score: dot(), normalise: identityNormaliser() });
 * const m = modules([a, a], mixture([0.25, 0.5]));
 * const x = tensor([[2]]);
 * assertEquals(await m(x, x, x).weights.array(), [[3]]);
 * ```
 */
export function mixture(alpha: readonly number[] | Tensor): Combine {
  const k = Array.isArray(alpha) ? alpha.length : (alpha as Tensor).shape[0];
  if (!Array.isArray(alpha) && (alpha as Tensor).ndim !== 1) {
    throw new TypeError(
      `mixture: weights must be [K], got [${(alpha as Tensor).shape}]`,
    );
  }
  return function mixtureCombine(parts) {
    if (parts.length !== k) {
      throw new TypeError(`mixture: ${k} weights for ${parts.length} modules`);
    }
    // Fixed numbers become a tensor per call, on the backend of that call.
    const a = Array.isArray(alpha)
      ? tensor(alpha as number[])
      : alpha as Tensor;
    return lazyResult(
      mix(parts.map((p) => p.output), a),
      () => mix(parts.map((p) => p.weights), a),
    );
  };
}

/** What {@link gate} returns: the merged result and the gate itself. */
export interface GatedResult extends AttentionResult {
  /** `[..., Tq, K]`: each query's weights on the K modules (rows sum to 1). */
  readonly gate: Tensor;
}

/** Parameters of {@link gate}. */
export interface GateParams {
  /** `[..., d, K]` (e.g. `[H, d, K]`, one gate per head): each query's logits, one per module. */
  readonly w: Tensor;
  /** `[K]`: the logits' bias (default 0). */
  readonly b?: Tensor;
}

/**
 * A learned, per-query gate: g_i = softmax(q_i W + b) over the K modules,
 * output_i = Σ_k g_ik out_ki. Both `w` and `b` are learnable. The result
 * carries the gate, `[..., Tq, K]`, for inspection ({@link GatedResult}).
 *
 * @example
 * ```ts
 * import { attention, dot, gate, identityNormaliser, modules } from "@heed/heed/attention";
 * import { tensor, zeros } from "@heed/heed/ops";
 * import { assertEquals } from "@std/assert";
 *
 * const a = attention({ score: dot(), normalise: identityNormaliser() });
 * // Zero logits: an even split between the two modules.
 * const m = modules([a, a], gate({ w: zeros([1, 2]) }));
 * const x = tensor([[2]]);
 * assertEquals(await m(x, x, x).weights.array(), [[4]]);
 * ```
 */
export function gate(params: GateParams): Combine {
  checkOptions("gate: params", params, ["w", "b"]);
  const { w, b } = params;
  if (w.ndim < 2) {
    throw new TypeError(`gate: w must be [..., d, K], got [${w.shape}]`);
  }
  const k = w.shape[w.ndim - 1]!;
  return function gateCombine(parts, q) {
    if (parts.length !== k) {
      throw new TypeError(
        `gate: w [${w.shape}] has ${k} logits for ${parts.length} modules`,
      );
    }
    let logits = matmul(q, w); // [..., Tq, K]
    if (b) logits = add(logits, b);
    const g = softmax(logits, { axis: -1 }); // [..., Tq, K]
    const result: GatedResult = lazyResult(
      mix(parts.map((p) => p.output), g), // [..., Tq, dv]
      // Weights: Σ_k g_ik w_kij, the gate broadcast over the keys.
      () => mix(parts.map((p) => p.weights), g), // [..., Tq, Tk]
      { gate: g },
    );
    return result;
  };
}
