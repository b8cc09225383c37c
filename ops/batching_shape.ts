/**
 * Batching rules of the shape primitives: reshape, transpose,
 * broadcast_in_dim, slice, pad, concatenate, gather and scatter_add. Most
 * keep the batch axis as one more axis the primitive leaves alone; gather
 * and scatter_add with batched indices fold the batch into the indexed
 * axis (`idx + b·n`), so one primitive serves every example.
 *
 * @module
 */

import { bind, fromHost } from "./core.ts";
import type { Primitive } from "./primitives.ts";
import type { Tensor } from "./tensor.ts";
import { backendOf } from "./_convert.ts";
import {
  batchedAtFront,
  type BatchRule,
  insertAt,
  int32,
  moveAxis,
  toFront,
} from "./_batch_axes.ts";

/** `[from, from + 1, ..., to - 1]`. */
function range(from: number, to: number): number[] {
  return Array.from({ length: Math.max(0, to - from) }, (_, i) => from + i);
}

/**
 * Per-example indices `idx` ([B, ...I], int32) into an axis of length `n`
 * as indices into the batch-major flattening of that axis ([B·n]): first
 * made valid as the kernels do (negative counts from the end, then
 * clamped), so no example reads another's rows.
 */
function flatIndices(idx: Tensor, n: number): Tensor {
  const nT = int32(n, idx);
  const neg = bind("lt", [idx, int32(0, idx)], {});
  let j = bind("select", [neg, bind("add", [idx, nT], {}), idx], {});
  j = bind("max", [bind("min", [j, int32(n - 1, idx)], {}), int32(0, idx)], {});
  const size = idx.shape[0]!;
  const offsets = new Int32Array(size).map((_, b) => b * n); // [B, 1, ...]
  const shape = [size, ...idx.shape.slice(1).map(() => 1)];
  const off = fromHost(offsets, shape, "int32", backendOf([idx]));
  return bind("add", [j, off], {});
}

/** gather(x, idx) along `axis`: out = x[:axis] + idx + x[axis+1:] per example. */
const gather: BatchRule<"gather"> = ([x, idx], ds, { axis }) => {
  const dx = ds[0] ?? null, di = ds[1] ?? null;
  if (di === null) {
    const a = axis >= dx! ? axis + 1 : axis;
    const out = bind("gather", [x!, idx!], { axis: a });
    return [out, dx! <= axis ? dx! : dx! - 1 + idx!.ndim];
  }
  if (dx === null) {
    return [bind("gather", [x!, idx!], { axis }), axis + di];
  }
  // Both batched: x [B, N, pre, post] flattened to [B·N, pre, post].
  const xf = moveAxis(toFront(x!, dx), axis + 1, 1);
  const n = xf.shape[1]!;
  const flat = bind("reshape", [xf], {
    shape: [xf.shape[0]! * n, ...xf.shape.slice(2)],
  });
  const ids = flatIndices(toFront(idx!, di), n); // [B, ...I]
  const g = bind("gather", [flat, ids], { axis: 0 }); // [B, I, pre, post]
  const nI = idx!.ndim - 1;
  const perm = [
    0,
    ...range(1 + nI, 1 + nI + axis),
    ...range(1, 1 + nI),
    ...range(1 + nI + axis, g.ndim),
  ];
  return [bind("transpose", [g], { perm }), 0];
};

/** scatter_add(u, idx) into `shape`: the transpose of gather, batched alike. */
const scatterAdd: BatchRule<"scatter_add"> = (
  [u, idx],
  ds,
  { axis, shape },
  size,
) => {
  const du = ds[0] ?? null, di = ds[1] ?? null;
  if (di === null) {
    const out = bind("scatter_add", [toFront(u!, du!), idx!], {
      axis: axis + 1,
      shape: [size, ...shape],
    });
    return [out, 0];
  }
  // Batched indices: updates [B, pre, I, post] as [B, I, pre, post],
  // scattered into [B·N, pre, post], then unflattened to [B, pre, N, post].
  const ub = batchedAtFront(u!, du, size);
  const nI = idx!.ndim - 1;
  const uf = bind("transpose", [ub], {
    perm: [
      0,
      ...range(1 + axis, 1 + axis + nI),
      ...range(1, 1 + axis),
      ...range(1 + axis + nI, ub.ndim),
    ],
  });
  const n = shape[axis]!;
  const rest = [...shape.slice(0, axis), ...shape.slice(axis + 1)];
  const s = bind("scatter_add", [uf, flatIndices(toFront(idx!, di), n)], {
    axis: 0,
    shape: [size * n, ...rest],
  });
  const unflat = bind("reshape", [s], { shape: [size, n, ...rest] });
  return [moveAxis(unflat, 1, axis + 1), 0];
};

/**
 * The batching rules of the shape primitives.
 *
 * @example Slicing each example of a batch
 * ```ts
 * import { tensor } from "@heed/heed";
 * import { assertEquals } from "@std/assert";
 * import { SHAPE_BATCH_RULES } from "./batching_shape.ts";
 *
 * const xs = tensor([[1, 2, 3], [4, 5, 6]]); // 2 examples of [3]
 * const [y, bdim] = SHAPE_BATCH_RULES.slice([xs], [0], {
 *   start: [1],
 *   limit: [3],
 * }, 2);
 * assertEquals([await y.array(), bdim], [[[2, 3], [5, 6]], 0]);
 * ```
 */
export const SHAPE_BATCH_RULES: {
  [
    P in Extract<
      Primitive,
      | "reshape"
      | "transpose"
      | "broadcast_in_dim"
      | "slice"
      | "pad"
      | "concatenate"
      | "gather"
      | "scatter_add"
    >
  ]: BatchRule<P>;
} = {
  reshape: ([x], [d], params, size) => [
    bind("reshape", [toFront(x!, d!)], { shape: [size, ...params.shape] }),
    0,
  ],
  // The batch axis leads the output; the others follow `perm`.
  transpose: ([x], [d], { perm }) => [
    bind("transpose", [x!], {
      perm: [d!, ...perm.map((a) => (a >= d! ? a + 1 : a))],
    }),
    0,
  ],
  broadcast_in_dim: ([x], [d], { shape, dims }, size) => [
    bind("broadcast_in_dim", [toFront(x!, d!)], {
      shape: [size, ...shape],
      dims: [0, ...dims.map((a) => a + 1)],
    }),
    0,
  ],
  slice: ([x], [d], { start, limit }, size) => [
    bind("slice", [x!], {
      start: insertAt(start, d!, 0),
      limit: insertAt(limit, d!, size),
    }),
    d!,
  ],
  pad: ([x], [d], { lo, hi, value }) => [
    bind("pad", [x!], {
      lo: insertAt(lo, d!, 0),
      hi: insertAt(hi, d!, 0),
      value,
    }),
    d!,
  ],
  // Unbatched operands are repeated for every example.
  concatenate: (xs, ds, { axis }, size) => [
    bind(
      "concatenate",
      xs.map((x, i) => batchedAtFront(x, ds[i] ?? null, size)),
      {
        axis: axis + 1,
      },
    ),
    0,
  ],
  gather,
  scatter_add: scatterAdd,
};
