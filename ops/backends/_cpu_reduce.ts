/**
 * Reduction kernels of the CPU backend: `reduce_sum`, `reduce_max`,
 * `reduce_min` over a list of axes, and `argmax`/`argmin` over one axis.
 * Sums accumulate in float64 (a JS number) and round once when stored.
 *
 * @module
 */

import { type DType, type HostArray, hostArray, sizeOf } from "../dtype.ts";
import {
  type CpuKernel,
  type CpuOperand,
  permuted,
  prod,
} from "./_cpu_common.ts";
import { INT32_RANGE } from "./_cpu_math.ts";

type ReduceKind = "sum" | "max" | "min";

/** The value a reduction over no elements gives. */
function identity(kind: ReduceKind, dtype: DType): number {
  if (kind === "sum") return 0;
  if (dtype === "int32") {
    return kind === "max" ? INT32_RANGE[0] : INT32_RANGE[1];
  }
  if (dtype === "bool") return kind === "max" ? 0 : 1;
  return kind === "max" ? -Infinity : Infinity;
}

/** Reduces each contiguous row `x[r*len .. (r+1)*len)` into `acc[r]`. */
function reduceRows(
  kind: ReduceKind,
  x: HostArray,
  rows: number,
  len: number,
  acc: Float64Array,
): void {
  for (let r = 0; r < rows; r++) {
    const base = r * len;
    let v = acc[r]!;
    if (kind === "sum") {
      for (let i = 0; i < len; i++) v += x[base + i]!;
    } else if (kind === "max") {
      for (let i = 0; i < len && v === v; i++) {
        const e = x[base + i]!;
        if (e > v || e !== e) v = e;
      }
    } else {
      for (let i = 0; i < len && v === v; i++) {
        const e = x[base + i]!;
        if (e < v || e !== e) v = e;
      }
    }
    acc[r] = v;
  }
}

/**
 * Reduces the leading `rows` of a `[rows, len]` array into `acc[len]`,
 * walking memory in order (the bias-gradient case: reduce axis 0).
 */
function reduceColumns(
  kind: ReduceKind,
  x: HostArray,
  rows: number,
  len: number,
  acc: Float64Array,
): void {
  for (let r = 0; r < rows; r++) {
    const base = r * len;
    if (kind === "sum") {
      for (let j = 0; j < len; j++) acc[j]! += x[base + j]!;
    } else if (kind === "max") {
      for (let j = 0; j < len; j++) {
        const e = x[base + j]!;
        if (e > acc[j]! || e !== e) acc[j] = e;
      }
    } else {
      for (let j = 0; j < len; j++) {
        const e = x[base + j]!;
        if (e < acc[j]! || e !== e) acc[j] = e;
      }
    }
  }
}

function reduce(
  kind: ReduceKind,
): CpuKernel<"reduce_sum" | "reduce_max" | "reduce_min"> {
  return (inputs, params, out) => {
    const x = inputs[0] as CpuOperand;
    const shape = x.aval.shape, axes = params.axes, rank = shape.length;
    if (axes.length === 0) return x.handle; // storage is immutable
    const kept = sizeOf(out.shape), len = prod(axes.map((a) => shape[a]!));
    const acc = new Float64Array(kept).fill(identity(kind, out.dtype));
    const isSuffix = axes.every((a, i) => a === rank - axes.length + i);
    const isPrefix = axes.every((a, i) => a === i);
    if (len === 0) {
      // nothing to read: every output is the identity
    } else if (isSuffix) {
      reduceRows(kind, x.handle, kept, len, acc);
    } else if (isPrefix) {
      reduceColumns(kind, x.handle, len, kept, acc);
    } else {
      // Move the reduced axes last, then reduce rows.
      const perm = [...shape.keys()].filter((a) => !axes.includes(a));
      const moved = permuted(x.handle, shape, [...perm, ...axes]);
      reduceRows(kind, moved, kept, len, acc);
    }
    const res = hostArray(out.dtype, kept);
    if (out.dtype === "bool") {
      for (let i = 0; i < kept; i++) res[i] = acc[i] !== 0 ? 1 : 0;
    } else {
      res.set(acc); // float32 rounds once; int32 sums wrap modulo 2^32
    }
    return res;
  };
}

/** The `reduce_*` kernels. On bool, sum and max are "any", min is "all". */
export const REDUCE_KERNELS: {
  reduce_sum: CpuKernel<"reduce_sum">;
  reduce_max: CpuKernel<"reduce_max">;
  reduce_min: CpuKernel<"reduce_min">;
} = {
  reduce_sum: reduce("sum"),
  reduce_max: reduce("max"),
  reduce_min: reduce("min"),
};

/**
 * `argmax`/`argmin` along `params.axis` to int32. The first extreme wins,
 * and a NaN counts as the extreme, so the first NaN's index is returned
 * (as NumPy does).
 */
function argReduce(isMax: boolean): CpuKernel<"argmax" | "argmin"> {
  return (inputs, params, out) => {
    const x = inputs[0] as CpuOperand;
    const src = x.handle, shape = x.aval.shape, axis = params.axis;
    const outer = prod(shape, 0, axis), n = shape[axis]!;
    const inner = prod(shape, axis + 1);
    const res = hostArray(out.dtype, outer * inner);
    const best = new Float64Array(inner);
    const found = new Int32Array(inner);
    for (let o = 0; o < outer; o++) {
      const base = o * n * inner;
      for (let j = 0; j < inner; j++) best[j] = src[base + j]!;
      found.fill(0);
      for (let k = 1; k < n; k++) {
        const row = base + k * inner;
        for (let j = 0; j < inner; j++) {
          const v = src[row + j]!, b = best[j]!;
          // A NaN replaces a number; nothing replaces a NaN.
          if ((isMax ? v > b : v < b) || (v !== v && b === b)) {
            best[j] = v;
            found[j] = k;
          }
        }
      }
      res.set(found, o * inner);
    }
    return res;
  };
}

/** The `argmax`/`argmin` kernels. */
export const ARG_KERNELS: {
  argmax: CpuKernel<"argmax">;
  argmin: CpuKernel<"argmin">;
} = {
  argmax: argReduce(true),
  argmin: argReduce(false),
};
