/**
 * Masks: functions of the call's positions and data that say which keys a
 * query may see (`true`) and which it may not (`false`). A spec's masks
 * must all hold; `and`, `or` and `not` build other combinations.
 *
 * Masks look at *positions* (`ctx.qPos`, `ctx.kPos`), not at array
 * indices, so permuting keys together with their positions permutes the
 * mask with them.
 *
 * @module
 */

import {
  equal,
  greaterEqual,
  less,
  lessEqual,
  logicalAnd,
  logicalNot,
  logicalOr,
  sub,
  type Tensor,
} from "../ops/mod.ts";
import { align, asLengths } from "./_context.ts";
import type { MaskFn } from "./types.ts";

/**
 * Causal: query i sees key j iff pos_j ≤ pos_i.
 *
 * @example
 * ```ts
 * import { attention, causal, dot } from "@heed/heed/attention";
 * import { ones } from "@heed/heed/ops";
 * import { assertEquals } from "@std/assert";
 *
 * const f = attention({ score: dot(), masks: [causal()] });
 * const x = ones([3, 1]);
 * const third = Math.fround(1 / 3); // weights are float32
 * assertEquals(await f(x, x, x).weights.array(), [
 *   [1, 0, 0],
 *   [1 / 2, 1 / 2, 0],
 *   [third, third, third],
 * ]);
 * ```
 */
export function causal(): MaskFn {
  return function causalMask(ctx) {
    return lessEqual(ctx.kPos, ctx.qPos); // [..., Tq, Tk]
  };
}

/**
 * A band around the diagonal: query i sees key j iff
 * −before ≤ pos_j − pos_i ≤ after. `slidingWindow(w - 1, 0)` is the causal
 * window of the last w tokens (Mistral); `slidingWindow(w)` is symmetric.
 *
 * @example
 * ```ts
 * import { attention, dot, slidingWindow } from "@heed/heed/attention";
 * import { ones } from "@heed/heed/ops";
 * import { assertEquals } from "@std/assert";
 *
 * const f = attention({ score: dot(), masks: [slidingWindow(1, 0)] });
 * const x = ones([3, 1]);
 * assertEquals(await f(x, x, x).weights.array(), [
 *   [1, 0, 0],
 *   [1 / 2, 1 / 2, 0],
 *   [0, 1 / 2, 1 / 2],
 * ]);
 * ```
 */
export function slidingWindow(before: number, after: number = before): MaskFn {
  for (const [name, w] of [["before", before], ["after", after]] as const) {
    if (!Number.isInteger(w) || w < 0) {
      throw new RangeError(
        `slidingWindow: ${name} must be a non-negative integer, got ${w}`,
      );
    }
  }
  return function slidingWindowMask(ctx) {
    const rel = sub(ctx.kPos, ctx.qPos); // [..., Tq, Tk]
    return logicalAnd(greaterEqual(rel, -before), lessEqual(rel, after));
  };
}

/**
 * Padding: hides keys that are padding, given per call as `opts.lengths`
 * (`[B]`: key j is real iff pos_j < length) and/or `opts.keyMask` (bool
 * `[B, Tk]`, true for real keys). It throws if the call gives neither.
 *
 * @example
 * ```ts
 * import { attention, dot, padding } from "@heed/heed/attention";
 * import { ones } from "@heed/heed/ops";
 * import { assertEquals } from "@std/assert";
 *
 * const f = attention({ score: dot(), masks: [padding()] });
 * const x = ones([2, 1, 3, 1]); // [B, H, T, d]
 * const w = await f(x, x, x, { lengths: [2, 1] }).weights.array();
 * assertEquals(w, [
 *   [[[1 / 2, 1 / 2, 0], [1 / 2, 1 / 2, 0], [1 / 2, 1 / 2, 0]]],
 *   [[[1, 0, 0], [1, 0, 0], [1, 0, 0]]],
 * ]);
 * ```
 */
export function padding(): MaskFn {
  return function paddingMask(ctx) {
    const { lengths, keyMask } = ctx.opts;
    const rank = ctx.shape.length;
    let m: Tensor | null = null;
    if (lengths !== undefined) {
      const n = align("padding", asLengths(lengths), rank, "example");
      m = less(ctx.kPos, n); // [B, 1.., 1, Tk]
    }
    if (keyMask !== undefined) {
      if (keyMask.dtype !== "bool") {
        throw new TypeError(
          `padding: opts.keyMask must be bool, got ${keyMask.dtype}`,
        );
      }
      const k = align("padding", keyMask, rank, "key"); // [B, 1.., 1, Tk]
      m = m ? logicalAnd(m, k) : k;
    }
    if (!m) {
      throw new TypeError(
        "padding: the call gives neither opts.lengths nor opts.keyMask",
      );
    }
    return m;
  };
}

/**
 * Document (segment) masking for packed sequences: query i sees key j iff
 * they carry the same id, from `opts.segments` (`[B, Tq]`) and
 * `opts.kvSegments` (`[B, Tk]`, default `segments`).
 *
 * @example
 * ```ts
 * import { attention, dot, segments } from "@heed/heed/attention";
 * import { ones, tensor } from "@heed/heed/ops";
 * import { assertEquals } from "@std/assert";
 *
 * const f = attention({ score: dot(), masks: [segments()] });
 * const x = ones([3, 1]);
 * const ids = tensor([0, 0, 1], { dtype: "int32" });
 * assertEquals(await f(x, x, x, { segments: ids }).weights.array(), [
 *   [1 / 2, 1 / 2, 0],
 *   [1 / 2, 1 / 2, 0],
 *   [0, 0, 1],
 * ]);
 * ```
 */
export function segments(): MaskFn {
  return function segmentsMask(ctx) {
    const qs = ctx.opts.segments;
    const ks = ctx.opts.kvSegments ?? qs;
    if (!qs || !ks) {
      throw new TypeError("segments: the call gives no opts.segments");
    }
    const rank = ctx.shape.length;
    return equal(
      align("segments", qs, rank, "query"), // [B, 1.., Tq, 1]
      align("segments", ks, rank, "key"), // [B, 1.., 1, Tk]
    );
  };
}

/**
 * All of the masks hold.
 *
 * @example
 * ```ts
 * import { and, attention, causal, dot, slidingWindow } from "@heed/heed/attention";
 * import { ones } from "@heed/heed/ops";
 * import { assertEquals } from "@std/assert";
 *
 * const f = attention({ score: dot(), masks: [and(causal(), slidingWindow(0))] });
 * const x = ones([2, 1]);
 * assertEquals(await f(x, x, x).weights.array(), [[1, 0], [0, 1]]);
 * ```
 */
export function and(...masks: readonly MaskFn[]): MaskFn {
  if (masks.length === 0) throw new TypeError("and: needs at least one mask");
  return function andMask(ctx) {
    return masks.map((m) => m(ctx)).reduce((a, b) => logicalAnd(a, b));
  };
}

/**
 * At least one of the masks holds.
 *
 * @example
 * ```ts
 * import { attention, causal, dot, or, slidingWindow } from "@heed/heed/attention";
 * import { ones } from "@heed/heed/ops";
 * import { assertEquals } from "@std/assert";
 *
 * // Causal, plus one token of look-ahead.
 * const f = attention({ score: dot(), masks: [or(causal(), slidingWindow(0, 1))] });
 * const x = ones([3, 1]);
 * const third = Math.fround(1 / 3); // weights are float32
 * assertEquals(await f(x, x, x).weights.array(), [
 *   [1 / 2, 1 / 2, 0],
 *   [third, third, third],
 *   [third, third, third],
 * ]);
 * ```
 */
export function or(...masks: readonly MaskFn[]): MaskFn {
  if (masks.length === 0) throw new TypeError("or: needs at least one mask");
  return function orMask(ctx) {
    return masks.map((m) => m(ctx)).reduce((a, b) => logicalOr(a, b));
  };
}

/**
 * The mask does not hold.
 *
 * @example
 * ```ts
 * import { attention, causal, dot, not } from "@heed/heed/attention";
 * import { ones } from "@heed/heed/ops";
 * import { assertEquals } from "@std/assert";
 *
 * // Strictly the future: the last row sees nothing, and gets zeros.
 * const f = attention({ score: dot(), masks: [not(causal())] });
 * const x = ones([2, 1]);
 * assertEquals(await f(x, x, x).weights.array(), [[0, 1], [0, 0]]);
 * ```
 */
export function not(mask: MaskFn): MaskFn {
  return function notMask(ctx) {
    return logicalNot(mask(ctx));
  };
}
