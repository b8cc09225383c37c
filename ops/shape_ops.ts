/**
 * Shape ops: reshape, transpose, expandDims, squeeze, broadcastTo, slice,
 * concat, stack, pad, take, oneHot.
 *
 * @module
 */

import {
  broadcastShapes,
  fmtShape,
  normAxes,
  normAxis,
  sameShape,
  sizeOf,
} from "./dtype.ts";
import { bind, fromHost } from "./core.ts";
import type { Tensor } from "./tensor.ts";
import { asTensor, asTensors, backendOf, type TensorLike } from "./_convert.ts";

/**
 * Gives `x` a new shape with the same elements; one axis may be `-1`.
 *
 * @example
 * ```ts
 * import { arange, reshape } from "@heed/heed";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(reshape(arange(6), [2, -1]).shape, [2, 3]);
 * ```
 */
export function reshape(x: TensorLike, shape: readonly number[]): Tensor {
  const t = asTensor("reshape", x);
  const unknown = shape.filter((d) => d === -1).length;
  if (unknown > 1 || shape.some((d) => !Number.isInteger(d) || d < -1)) {
    throw new TypeError(
      `reshape: cannot reshape ${fmtShape(t.shape)} to ${
        fmtShape(shape)
      }: sizes must be non-negative integers, with at most one -1`,
    );
  }
  let target = [...shape];
  if (unknown === 1) {
    const known = sizeOf(shape.filter((d) => d !== -1));
    if (known === 0 || t.size % known !== 0) {
      throw new TypeError(
        `reshape: cannot reshape ${fmtShape(t.shape)} (${t.size} elements) to ${
          fmtShape(shape)
        }`,
      );
    }
    target = shape.map((d) => (d === -1 ? t.size / known : d));
  }
  if (sameShape(target, t.shape)) return t;
  return bind("reshape", [t], { shape: target });
}

/** Permutes the axes of `x` (default: reverses them). */
export function transpose(x: TensorLike, perm?: readonly number[]): Tensor {
  const t = asTensor("transpose", x);
  const r = t.ndim;
  const p = perm ?? [...Array(r).keys()].reverse();
  const norm = p.map((a) => (a < 0 ? a + r : a));
  if (
    p.length !== r || new Set(norm).size !== r ||
    norm.some((a) => !Number.isInteger(a) || a < 0 || a >= r)
  ) {
    throw new RangeError(
      `transpose: [${p.join(",")}] is not a permutation of the ${r} axes of ${
        fmtShape(t.shape)
      }`,
    );
  }
  if (norm.every((a, i) => a === i)) return t;
  return bind("transpose", [t], { perm: norm });
}

/** Inserts an axis of size 1 at `axis` (negative counts from the end of the result). */
export function expandDims(x: TensorLike, axis: number): Tensor {
  const t = asTensor("expandDims", x);
  const a = normAxis("expandDims", axis, t.ndim + 1);
  const shape = [...t.shape];
  shape.splice(a, 0, 1);
  return bind("reshape", [t], { shape });
}

/** Removes axes of size 1 (all of them, or those named in `axis`). */
export function squeeze(
  x: TensorLike,
  axis?: number | readonly number[],
): Tensor {
  const t = asTensor("squeeze", x);
  const axes = axis === undefined
    ? t.shape.flatMap((d, i) => (d === 1 ? [i] : []))
    : normAxes("squeeze", axis, t.ndim);
  for (const a of axes) {
    if (t.shape[a] !== 1) {
      throw new TypeError(
        `squeeze: axis ${a} of ${fmtShape(t.shape)} has size ${
          t.shape[a]
        }, not 1`,
      );
    }
  }
  return reshape(t, t.shape.filter((_, i) => !axes.includes(i)));
}

/** Broadcasts `x` to `shape` with NumPy rules. */
export function broadcastTo(x: TensorLike, shape: readonly number[]): Tensor {
  const t = asTensor("broadcastTo", x);
  const out = broadcastShapes("broadcastTo", t.shape, shape);
  if (!sameShape(out, shape)) {
    throw new TypeError(
      `broadcastTo: cannot broadcast ${fmtShape(t.shape)} to ${
        fmtShape(shape)
      }`,
    );
  }
  if (sameShape(t.shape, shape)) return t;
  const off = shape.length - t.ndim;
  return bind("broadcast_in_dim", [t], {
    shape: [...shape],
    dims: t.shape.map((_, i) => i + off),
  });
}

/**
 * Takes `x[begin[i] : begin[i] + size[i]]` on each axis. Missing axes are
 * taken whole; a size of -1 means "to the end". Negative begins count from
 * the end.
 */
export function slice(
  x: TensorLike,
  begin: readonly number[],
  size?: readonly number[],
): Tensor {
  const t = asTensor("slice", x);
  if (begin.length > t.ndim || (size && size.length !== begin.length)) {
    throw new RangeError(
      `slice: begin [${begin.join(",")}]${
        size ? ` and size [${size.join(",")}]` : ""
      } do not fit ${fmtShape(t.shape)}`,
    );
  }
  const start = t.shape.map((d, i) => {
    const b = begin[i] ?? 0;
    return b < 0 ? b + d : b;
  });
  const limit = t.shape.map((d, i) => {
    const s = size?.[i] ?? -1;
    return s === -1 ? d : start[i]! + s;
  });
  if (start.every((s, i) => s === 0 && limit[i] === t.shape[i])) return t;
  return bind("slice", [t], { start, limit });
}

/** Joins tensors along an existing axis. */
export function concat(xs: readonly TensorLike[], axis?: number): Tensor {
  if (xs.length === 0) throw new TypeError("concat: needs at least one tensor");
  const ts = asTensors("concat", xs);
  const first = ts[0]!;
  const a = normAxes("concat", axis ?? 0, first.ndim)[0]!;
  for (const t of ts) {
    if (
      t.ndim !== first.ndim ||
      t.shape.some((d, i) => i !== a && d !== first.shape[i])
    ) {
      throw new TypeError(
        `concat: shapes ${
          ts.map((u) => fmtShape(u.shape)).join(", ")
        } differ outside axis ${a}`,
      );
    }
  }
  if (ts.length === 1) return first;
  return bind("concatenate", ts, { axis: a });
}

/** Joins tensors of one shape along a new axis. */
export function stack(xs: readonly TensorLike[], axis?: number): Tensor {
  if (xs.length === 0) throw new TypeError("stack: needs at least one tensor");
  const ts = asTensors("stack", xs);
  const shape = ts[0]!.shape;
  for (const t of ts) {
    if (!sameShape(t.shape, shape)) {
      throw new TypeError(
        `stack: shapes differ: ${ts.map((u) => fmtShape(u.shape)).join(", ")}`,
      );
    }
  }
  const a = normAxis("stack", axis ?? 0, shape.length + 1);
  return concat(ts.map((t) => expandDims(t, a)), a);
}

/**
 * Pads each axis with `[before, after]` copies of `value` (default 0).
 *
 * @example
 * ```ts
 * import { pad, tensor } from "@heed/heed";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(await pad(tensor([1, 2]), [[1, 0]]).array(), [0, 1, 2]);
 * ```
 */
export function pad(
  x: TensorLike,
  widths: readonly (readonly [number, number])[],
  value?: number,
): Tensor {
  const t = asTensor("pad", x);
  if (widths.length !== t.ndim) {
    throw new RangeError(
      `pad: expected ${t.ndim} [before, after] pairs for ${
        fmtShape(t.shape)
      }, got ${widths.length}`,
    );
  }
  return bind("pad", [t], {
    lo: widths.map((w) => w[0]),
    hi: widths.map((w) => w[1]),
    value: value ?? 0,
  });
}

/**
 * Picks entries of `x` along `axis` at int32 `indices`; the result has shape
 * `x.shape[:axis] + indices.shape + x.shape[axis+1:]`. Negative indices count
 * from the end; out-of-range indices are clamped (as JAX does on device).
 *
 * @example
 * ```ts
 * import { take, tensor } from "@heed/heed";
 * import { assertEquals } from "@std/assert";
 *
 * const emb = tensor([[0, 0], [1, 1], [2, 2]]);
 * const ids = tensor([2, 0], { dtype: "int32" });
 * assertEquals(await take(emb, ids).array(), [[2, 2], [0, 0]]);
 * ```
 */
export function take(
  x: TensorLike,
  indices: TensorLike,
  axis?: number,
): Tensor {
  const t = asTensor("take", x);
  const idx = asTensor(
    "take",
    indices,
    typeof indices === "number" ? "int32" : undefined,
    backendOf([t]),
  );
  if (idx.dtype !== "int32") {
    throw new TypeError(`take: indices must be int32, got ${idx.dtype}`);
  }
  const a = normAxes("take", axis ?? 0, t.ndim)[0]!;
  return bind("gather", [t, idx], { axis: a });
}

/** Alias of {@link take}, by the name PyTorch and TF.js use. */
export function gather(
  x: TensorLike,
  indices: TensorLike,
  axis?: number,
): Tensor {
  return take(x, indices, axis);
}

/** One-hot encodes int32 `indices` into a new last axis of size `depth` (float32). */
export function oneHot(indices: TensorLike, depth: number): Tensor {
  const idx = asTensor(
    "oneHot",
    indices,
    typeof indices === "number" ? "int32" : undefined,
  );
  if (idx.dtype !== "int32") {
    throw new TypeError(`oneHot: indices must be int32, got ${idx.dtype}`);
  }
  if (!Number.isInteger(depth) || depth < 1) {
    throw new RangeError(
      `oneHot: depth must be a positive integer, got ${depth}`,
    );
  }
  const shape = [...idx.shape, depth];
  // The class ids live on the indices' backend, which need not be the default.
  const ids = fromHost(
    Int32Array.from({ length: depth }, (_, i) => i),
    [depth],
    "int32",
    backendOf([idx]),
  );
  const classes = bind("broadcast_in_dim", [ids], { shape, dims: [idx.ndim] });
  const eq = bind("eq", [expandDims(idx, -1), classes], {});
  return bind("convert_element_type", [eq], { dtype: "float32" });
}

/** Flattens `x` to one axis. */
export function flatten(x: TensorLike): Tensor {
  return reshape(x, [-1]);
}
