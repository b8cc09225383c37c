/**
 * Learned relative-position bias (T5, Raffel et al.): each head learns one
 * scalar per *bucket* of relative distance, s'_hij = s_hij + table[h, b(j − i)].
 *
 * Buckets: half of them hold exact small distances, the other half cover
 * distances up to `maxDistance` on a log scale; everything farther shares
 * the last bucket. Bidirectional tables split the buckets between keys
 * before and after the query.
 *
 * @module
 */

import {
  abs,
  add,
  arange,
  cast,
  div,
  less,
  log,
  maximum,
  minimum,
  mul,
  neg,
  reshape,
  sub,
  take,
  type Tensor,
  where,
} from "../ops/mod.ts";
import { checkOptions } from "../ops/_options.ts";
import type { ModFn } from "./types.ts";

/** Options of {@link relativePositionBias} and {@link relativeBuckets}. */
export interface RelativePositionOptions {
  /** Keys after the query get their own buckets (default true; false for causal decoders). */
  readonly bidirectional?: boolean;
  /** Distances at or beyond this share the last bucket (default 128). */
  readonly maxDistance?: number;
}

interface Geometry {
  bidirectional: boolean;
  maxDistance: number;
  /** Buckets per direction. */
  half: number;
  /** Buckets holding one exact distance each. */
  exact: number;
}

function geometry(
  op: string,
  buckets: number,
  opts: RelativePositionOptions,
): Geometry {
  checkOptions(op, opts, ["bidirectional", "maxDistance"]);
  const bidirectional = opts.bidirectional ?? true;
  const maxDistance = opts.maxDistance ?? 128;
  const half = bidirectional ? Math.floor(buckets / 2) : buckets;
  const exact = Math.floor(half / 2);
  if (!Number.isInteger(buckets) || exact < 1) {
    throw new RangeError(
      `${op}: need at least ${bidirectional ? 4 : 2} buckets, got ${buckets}`,
    );
  }
  if (!(maxDistance > exact)) {
    throw new RangeError(
      `${op}: maxDistance (${maxDistance}) must exceed the ${exact} exact buckets`,
    );
  }
  return { bidirectional, maxDistance, half, exact };
}

/**
 * The T5 bucket (int32) of each relative position `rel = key − query`,
 * among `buckets` buckets.
 *
 * @example
 * ```ts
 * import { relativeBuckets } from "@heed/heed/attention";
 * import { tensor } from "@heed/heed/ops";
 * import { assertEquals } from "@std/assert";
 *
 * const rel = tensor([-3, -1, 0, 1, 3], { dtype: "int32" });
 * const b = relativeBuckets(rel, 8, { maxDistance: 4 });
 * assertEquals(await b.array(), [3, 1, 0, 5, 7]);
 * ```
 */
export function relativeBuckets(
  rel: Tensor,
  buckets: number,
  opts: RelativePositionOptions = {},
): Tensor {
  const { bidirectional, maxDistance, half, exact } = geometry(
    "relativeBuckets",
    buckets,
    opts,
  );
  // n ≥ 0 is the distance looked up; keys after the query use the upper half.
  let n = neg(rel);
  let offset: Tensor | number = 0;
  if (bidirectional) {
    offset = mul(cast(less(n, 0), "int32"), half);
    n = abs(n);
  } else {
    n = maximum(n, 0);
  }
  // Log-spaced buckets for exact ≤ n < maxDistance:
  //   exact + ⌊log(n / exact) / log(maxDistance / exact) · (half − exact)⌋
  const nf = cast(maximum(n, exact), "float32"); // keeps log finite
  const scaled = mul(
    div(log(div(nf, exact)), Math.log(maxDistance / exact)),
    half - exact,
  );
  const large = minimum(add(cast(scaled, "int32"), exact), half - 1);
  return add(where(less(n, exact), n, large), offset);
}

/**
 * Adds a learned per-head bias indexed by the T5 bucket of the relative
 * position, with `table` `[H, buckets]` (learnable).
 *
 * @example
 * ```ts
 * import { attention, dot, identityNormaliser, relativePositionBias } from "@heed/heed/attention";
 * import { tensor, zeros } from "@heed/heed/ops";
 * import { assertEquals } from "@std/assert";
 *
 * // One head, 4 buckets: [same, 1+ before, (unused), 1+ after].
 * const table = tensor([[0, -1, 10, 5]]);
 * const f = attention({ score: dot(), mods: [relativePositionBias(table)], normalise: identityNormaliser() });
 * const x = zeros([1, 2, 1]); // [H, T, d]
 * assertEquals(await f(x, x, x).weights.array(), [[[0, 5], [-1, 0]]]);
 * ```
 */
export function relativePositionBias(
  table: Tensor,
  opts: RelativePositionOptions = {},
): ModFn {
  if (table.ndim !== 2) {
    throw new TypeError(
      `relativePositionBias: table must be [H, buckets], got [${table.shape}]`,
    );
  }
  const [heads, buckets] = table.shape as [number, number];
  geometry("relativePositionBias", buckets, opts);
  return function relativePositionMod(s, ctx) {
    const b = relativeBuckets(sub(ctx.kPos, ctx.qPos), buckets, opts); // [..., Tq, Tk]
    const n = b.ndim;
    if (ctx.shape.length < 3 && heads !== 1) {
      throw new TypeError(
        `relativePositionBias: ${heads} heads but the scores [${ctx.shape}] have no head axis (-3)`,
      );
    }
    if (ctx.shape.length >= 3 && n > 2 && b.shape[n - 3] !== 1) {
      throw new TypeError(
        `relativePositionBias: positions [${b.shape}] must not vary along the head axis`,
      );
    }
    // table[h, b] as one gather from the flat table at h·buckets + b:
    // [H, 1, 1] + [..., 1, Tq, Tk] -> [..., H, Tq, Tk], with nothing to
    // move or reshape after the gather.
    const row = ctx.shape.length < 3
      ? 0
      : reshape(mul(arange(heads), buckets), [heads, 1, 1]);
    const flat = reshape(table, [heads * buckets]);
    return add(s, take(flat, add(b, row), 0));
  };
}
