/**
 * `explainAttention`: which path a call of `attention(spec)` takes (one
 * fused flash kernel, or the composed ops) and why.
 *
 * @module
 */

import { scope, type Tensor, zeros } from "../ops/mod.ts";
import { broadcastShapes, makeContext } from "./_context.ts";
import { fusedCall, prospect } from "./_fused_path.ts";
import { attention } from "./attention.ts";
import type { AttentionOptions, Spec } from "./types.ts";

/** A call to explain: example tensors, or only their shapes. */
export interface ExplainInputs {
  /** Queries `[..., Tq, d]`, or their shape. */
  readonly q: Tensor | readonly number[];
  /** Keys `[..., Tk, d]`, or their shape. */
  readonly k: Tensor | readonly number[];
  /** Values `[..., Tk, dv]`, or their shape. */
  readonly v: Tensor | readonly number[];
  /** The call's options (lengths, segments, training, ...). */
  readonly opts?: AttentionOptions;
}

/** Which path a call takes, and why. */
export interface AttentionExplanation {
  /** One flash kernel, or the composed ops. */
  readonly path: "fused" | "composed";
  /** Why, in a sentence. */
  readonly reason: string;
}

function asTensor(x: Tensor | readonly number[]): Tensor {
  return Array.isArray(x) ? zeros(x as number[]) : x as Tensor;
}

/**
 * Says whether `attention(spec)` runs the call `inputs` as one fused flash
 * kernel or as composed ops, and why. Shapes stand for zero tensors of
 * those shapes. With `fused: true` a "composed" answer means the call
 * throws, with this reason.
 *
 * @example
 * ```ts
 * import { additive, causal, explainAttention, scaledDot } from "@heed/heed/attention";
 * import { eye, ones } from "@heed/heed/ops";
 * import { assert, assertEquals } from "@std/assert";
 *
 * const shapes = { q: [2, 5, 8], k: [2, 7, 8], v: [2, 7, 8] };
 * const fused = explainAttention({ score: scaledDot(), masks: [causal()], fused: true }, shapes);
 * assertEquals(fused.path, "fused");
 * const bahdanau = { score: additive({ w1: eye(8), w2: eye(8), v: ones([8]) }) };
 * const why = explainAttention(bahdanau, shapes);
 * assertEquals(why.path, "composed");
 * assert(why.reason.includes("hidden layer per pair"));
 * ```
 */
export function explainAttention(
  spec: Spec,
  inputs: ExplainInputs,
): AttentionExplanation {
  attention(spec); // checks the spec
  return scope(() => {
    const q = asTensor(inputs.q), k = asTensor(inputs.k);
    const v = asTensor(inputs.v), opts = inputs.opts ?? {};
    for (const [name, x] of [["q", q], ["k", k], ["v", v]] as const) {
      if (x.ndim < 2) {
        throw new TypeError(
          `explainAttention: ${name} must be [..., T, d], got [${x.shape}]`,
        );
      }
    }
    const first = prospect(spec, q, k, v, opts);
    if (!first.fused) return { path: "composed", reason: first.reason };
    const batch = broadcastShapes(
      "explainAttention",
      q.shape.slice(0, -2),
      k.shape.slice(0, -2),
    );
    const [tq, tk] = [q.shape[q.ndim - 2]!, k.shape[k.ndim - 2]!];
    const ctx = makeContext(batch, tq, tk, opts, new Set(), true);
    const call = fusedCall(spec, q, k, v, ctx, true);
    return typeof call === "string"
      ? { path: "composed", reason: call }
      : { path: "fused", reason: first.reason };
  });
}
