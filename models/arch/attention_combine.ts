/**
 * Multi-module attention in the models, A(x) = [A_1(x), ..., A_K(x)]: K
 * attention modules see the same heads' q, k, v and are combined by
 * concatenation, a fixed mixture, or a learned per-query gate. The
 * combination is itself an attention module, so a model takes it like any
 * other.
 *
 * @module
 */

import {
  attention,
  type AttentionFn,
  type AttentionModule,
  type Combine,
  gate,
  mixture,
  type ModuleContext,
  modules,
} from "../../attention/mod.ts";
import {
  concat,
  type Key,
  mean,
  slice,
  split,
  stack,
  type Tensor,
  zeros,
} from "../../ops/mod.ts";

/** How the modules' results merge. */
export type Combination =
  | { readonly kind: "concat" }
  | { readonly kind: "gate" }
  | { readonly kind: "mix"; readonly alpha: readonly number[] };

/** Parameters of a combination: each module's (`m0`, `m1`, ...) and the gate's. */
export type CombinedParams = Record<string, unknown>;

/**
 * Concatenation at a fixed width: module k reads the k-th of K equal slices
 * of the values' features, so the heads keep dHead features
 * (`[..., Tq, dHead/K]` each, concatenated). The weights returned are the
 * modules' mean (a summary: no single matrix made a concatenated output).
 */
function concatSlices(fns: readonly AttentionFn[]): AttentionFn {
  const k = fns.length;
  const sliced = fns.map((fn, i): AttentionFn => (q, key, v, opts) => {
    const dv = v.shape[v.ndim - 1]!;
    if (dv % k !== 0) {
      throw new TypeError(
        `concat: ${dv} value features do not split into ${k} modules`,
      );
    }
    const w = dv / k;
    const begin = v.shape.map((_, a) => a === v.ndim - 1 ? i * w : 0);
    const size = v.shape.map((n, a) => a === v.ndim - 1 ? w : n);
    return fn(q, key, slice(v, begin, size), opts); // v: [..., Tk, dv/K]
  });
  const combine: Combine = (parts) => ({
    output: concat(parts.map((p) => p.output), -1), // [..., Tq, dv]
    weights: mean(stack(parts.map((p) => p.weights), 0), { axis: 0 }),
  });
  return modules(sliced, combine);
}

/**
 * The attention module that runs `parts` side by side and merges them as
 * `how` says. A gate has per-head parameters `w [H, dHead, K]` and
 * `b [H, 1, K]`, both starting at zero (an even split); its values come back
 * as `gate` from `multiHead(...).apply` and in the models' outputs.
 *
 * @example A learned gate between two built-in modules
 * ```ts
 * import { multiHead } from "@heed/heed/attention";
 * import { combineModules, namedSpec } from "@heed/heed/models";
 * import { key, normal } from "@heed/heed/ops";
 * import { assertEquals } from "@std/assert";
 *
 * const both = combineModules("mine", [namedSpec("scaled-dot"), namedSpec("cosine")], { kind: "gate" });
 * const mha = multiHead(both, { heads: 2, dModel: 8 });
 * const r = mha.apply(mha.init(key(0)), normal(key(1), [1, 3, 8]));
 * assertEquals(r.gate!.shape, [1, 2, 3, 2]); // [B, H, Tq, K]
 * assertEquals(await r.gate!.array(), Array(1).fill(Array(2).fill(Array(3).fill([0.5, 0.5]))));
 * ```
 */
export function combineModules(
  id: string,
  parts: readonly AttentionModule<unknown>[],
  how: Combination,
): AttentionModule<CombinedParams> {
  if (parts.length < 2) {
    throw new TypeError(`combineModules: needs two or more modules`);
  }
  const k = parts.length;
  return {
    id,
    description: `${how.kind} of ${parts.map((p) => p.id).join(", ")}`,
    init(key: Key, dims) {
      const keys = split(key, k);
      const params: CombinedParams = {};
      parts.forEach((m, i) => params[`m${i}`] = m.init(keys[i]!, dims));
      if (how.kind === "gate") {
        params.gate_w = zeros([dims.heads, dims.dHead, k]); // [H, dHead, K]
        params.gate_b = zeros([dims.heads, 1, k]); // [H, 1, K]
      }
      return params;
    },
    build(params, context: ModuleContext) {
      const fns = parts.map((m, i) => {
        const built = m.build(params[`m${i}`], context);
        return typeof built === "function" ? built : attention(built);
      });
      if (how.kind === "concat") return concatSlices(fns);
      if (how.kind === "mix") return modules(fns, mixture(how.alpha));
      return modules(
        fns,
        gate({ w: params.gate_w as Tensor, b: params.gate_b as Tensor }),
      );
    },
  };
}
