/**
 * The `attention(spec)` combinator: it wires a spec's pieces into one pure
 * function `(q, k, v, opts) -> { output, weights }`.
 *
 * @module
 */

import { dropout, logicalAnd, matmul, type Tensor } from "../ops/mod.ts";
import { checkOptions } from "../ops/_options.ts";
import {
  broadcastShapes,
  CALL_OPTIONS,
  checkAllRead,
  makeContext,
  sharedReads,
} from "./_context.ts";
import { checkMask, checkMod, checkScores, checkWeights } from "./_checks.ts";
import { type FlashCall, flashOutputOf } from "./_flash_call.ts";
import { fusedCall, prospect } from "./_fused_path.ts";
import { lazyResult } from "./_fused_forms.ts";
import { softmaxNormaliser } from "./normalisers.ts";
import type {
  AttentionFn,
  AttentionOptions,
  AttentionResult,
  Context,
  Spec,
} from "./types.ts";

function shapeOf(op: string, x: Tensor, what: string): readonly number[] {
  if (!x || typeof x !== "object" || !("shape" in x)) {
    throw new TypeError(`${op}: ${what} must be a Tensor`);
  }
  if (x.ndim < 2) {
    throw new TypeError(
      `${op}: ${what} must be [..., T, d], got [${x.shape}]`,
    );
  }
  return x.shape;
}

const SPEC_KEYS = ["score", "mods", "masks", "normalise", "dropout", "fused"];

function checkSpec(spec: Spec): void {
  if (!spec || typeof spec.score !== "function") {
    throw new TypeError("attention: the spec needs a score function");
  }
  checkOptions("attention: spec", spec, SPEC_KEYS);
  for (const list of ["mods", "masks"] as const) {
    const pieces: unknown = spec[list];
    if (
      pieces !== undefined &&
      !(Array.isArray(pieces) && pieces.every((p) => typeof p === "function"))
    ) {
      throw new TypeError(
        `attention: spec.${list} must be a list of functions`,
      );
    }
  }
  const n = spec.normalise;
  if (n !== undefined && (typeof n !== "function" || !n.laws)) {
    throw new TypeError(
      "attention: spec.normalise must be a normaliser (softmaxNormaliser(), or normaliser(fn, laws) for your own)",
    );
  }
  const rate = spec.dropout ?? 0;
  if (!(rate >= 0 && rate < 1)) {
    throw new RangeError(
      `attention: dropout rate must be in [0, 1), got ${rate}`,
    );
  }
  const f = spec.fused;
  if (f !== undefined && f !== "auto" && typeof f !== "boolean") {
    throw new TypeError(
      `attention: spec.fused must be "auto", true or false, got ${
        JSON.stringify(f)
      }`,
    );
  }
}

/** The fused output, or null when the flash API cannot run `call`. */
function tryFused(call: FlashCall): Tensor | null {
  try {
    return flashOutputOf(call);
  } catch {
    return null;
  }
}

/** w = normalise(mods(score(q, k)), ∧ masks), `[..., Tq, Tk]`, each piece checked. */
function composedWeights(
  spec: Spec,
  q: Tensor,
  k: Tensor,
  ctx: Context,
): Tensor {
  const normalise = spec.normalise ?? softmaxNormaliser();
  const masks = spec.masks ?? [];
  const shape = ctx.shape; // [..., Tq, Tk]
  let s = checkScores(spec.score(q, k, ctx), spec.score, shape);
  spec.mods?.forEach((mod, i) => (s = checkMod(mod(s, ctx), mod, i, shape)));
  const mask = masks.length === 0
    ? null
    : masks.map((m, i) => checkMask(m(ctx), m, i, shape))
      .reduce((a, b) => logicalAnd(a, b));
  return checkWeights(normalise(s, mask, ctx), normalise, shape);
}

/** Checks that every datum of the call was read, or reports to modules(). */
function reportReads(opts: AttentionOptions, read: Set<string>): void {
  const shared = sharedReads(opts);
  if (shared) {
    // Inside modules(): data that any module reads counts as read.
    read.forEach((name) => shared.keys.add(name));
    shared.calls++;
  } else {
    checkAllRead("attention", opts, read);
  }
}

/**
 * Builds an attention function from a spec. Each call computes
 *
 *     s = mods(score(q, k))          [..., Tq, Tk]
 *     w = normalise(s, ∧ masks)      [..., Tq, Tk]
 *     output = dropout(w) @ v        [..., Tq, dv]
 *
 * The batch axes of q, k and v broadcast. Building a spec is free, so build
 * it inside the function you differentiate when its pieces capture
 * parameters.
 *
 * When every piece has a fused form (the built-in scores but `additive`,
 * any modifiers and masks, the softmax, sigmoid and identity normalisers)
 * and the backend has a flash kernel (wasm, WebGPU), the call runs as one
 * fused kernel that never holds the `[Tq, Tk]` weights; `weights` is then
 * computed on first read. `spec.fused` forces either path, and
 * `explainAttention` says which one a call takes and why.
 *
 * Nothing is taken on trust: a piece that returns the wrong kind of value
 * (int scores, a float mask, weights of another shape) is a `TypeError`
 * naming the piece, and so is per-call data that is unknown, does not fit
 * the batch, or that no piece reads (`lengths` without `padding()`).
 *
 * @example Causal attention with ALiBi
 * ```ts
 * import { alibi, attention, causal, scaledDot, softmaxNormaliser } from "@heed/heed/attention";
 * import { key, normal, sum } from "@heed/heed/ops";
 * import { assertAlmostEquals, assertEquals } from "@std/assert";
 *
 * const attend = attention({
 *   score: scaledDot(),
 *   mods: [alibi(4)],
 *   masks: [causal()],
 *   normalise: softmaxNormaliser(),
 * });
 * const x = normal(key(0), [2, 4, 5, 8]); // [B, H, T, d]
 * const { output, weights } = attend(x, x, x);
 * assertEquals(output.shape, [2, 4, 5, 8]);
 * assertEquals((await weights.data())[1], 0); // query 0 cannot see key 1
 * assertAlmostEquals(await sum(weights).item() as number, 2 * 4 * 5, 1e-4);
 * ```
 */
export function attention(spec: Spec): AttentionFn {
  checkSpec(spec);
  const rate = spec.dropout ?? 0;
  return function attend(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    opts: AttentionOptions = {},
  ): AttentionResult {
    checkOptions("attention", opts, CALL_OPTIONS);
    const qs = shapeOf("attention", q, "q"), ks = shapeOf("attention", k, "k");
    const vs = shapeOf("attention", v, "v");
    const tq = qs[qs.length - 2]!, tk = ks[ks.length - 2]!;
    if (vs[vs.length - 2] !== tk) {
      throw new TypeError(
        `attention: k [${ks}] and v [${vs}] must have as many rows (Tk)`,
      );
    }
    const batch = broadcastShapes(
      "attention",
      qs.slice(0, -2),
      ks.slice(0, -2),
    );
    const read = new Set<string>();
    const path = prospect(spec, q, k, v, opts);
    const ctx = makeContext(batch, tq, tk, opts, read, path.fused);
    if (rate > 0) read.add("key");
    const call = path.fused
      ? fusedCall(spec, q, k, v, ctx, false)
      : path.reason;
    if (typeof call === "string" && spec.fused === true) {
      throw new TypeError(`attention: the spec says fused: true, but ${call}`);
    }
    // The planner runs once, inside flashAttention (a plan costs a trace).
    // "auto" falls back to the composed ops when it cannot fuse; an error of
    // a piece then shows again there, with the piece's name.
    const output = typeof call === "string"
      ? null
      : spec.fused === true
      ? flashOutputOf(call)
      : tryFused(call);
    if (output) {
      // Tracing the pieces reads ctx, so the reads are reported after.
      const result = lazyResult(
        output, // [..., Tq, dv]
        // [..., Tq, Tk], by the composed ops: exactly the composed path's
        // weights, differentiable, and exact for scores of any size (the
        // kernel's weights come from a float32 log-sum-exp).
        () => composedWeights(spec, q, k, ctx),
      );
      reportReads(opts, read);
      return result;
    }
    const weights = composedWeights(spec, q, k, ctx);
    reportReads(opts, read);
    let used = weights;
    if (rate > 0 && opts.training) {
      if (!opts.key) {
        throw new TypeError(
          `attention: dropout ${rate} while training needs opts.key`,
        );
      }
      used = dropout(weights, { rate, key: opts.key });
    }
    return { output: matmul(used, v), weights }; // [..., Tq, dv]
  };
}
