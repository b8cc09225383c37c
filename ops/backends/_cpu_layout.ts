/**
 * Layout kernels of the CPU backend: transpose, broadcast, slice, pad,
 * concatenate, gather/scatter_add, and the generators iota and
 * random_uniform. Each strided copy is one call of `stridedCopy`.
 *
 * @module
 */

import { hostArray, sizeOf } from "../dtype.ts";
import { fillUniform, threefry2x32 } from "../threefry.ts";
import {
  contiguous,
  type CpuKernel,
  type CpuOperand,
  permuted,
  prod,
  stridedCopy,
  type View,
} from "./_cpu_common.ts";

/** `transpose`: output axis i is input axis `perm[i]`. */
export const transposeKernel: CpuKernel<"transpose"> = (inputs, params) => {
  const x = inputs[0] as CpuOperand;
  return permuted(x.handle, x.aval.shape, params.perm);
};

/** `broadcast_in_dim`: input axis i becomes output axis `dims[i]`. */
export const broadcastInDimKernel: CpuKernel<"broadcast_in_dim"> = (
  inputs,
  params,
  out,
) => {
  const x = inputs[0] as CpuOperand;
  const own = contiguous(x.aval.shape).strides;
  const strides = new Array<number>(out.shape.length).fill(0);
  params.dims.forEach((d, i) => {
    if (x.aval.shape[i] !== 1) strides[d] = own[i]!;
  });
  const res = hostArray(out.dtype, sizeOf(out.shape));
  stridedCopy(
    res,
    contiguous(out.shape),
    x.handle,
    { offset: 0, strides },
    out.shape,
  );
  return res;
};

/** `slice` with stride 1: `x[start[0]:limit[0], ...]`. */
export const sliceKernel: CpuKernel<"slice"> = (inputs, params, out) => {
  const x = inputs[0] as CpuOperand;
  const own = contiguous(x.aval.shape).strides;
  let offset = 0;
  params.start.forEach((s, i) => offset += s * own[i]!);
  const res = hostArray(out.dtype, sizeOf(out.shape));
  stridedCopy(
    res,
    contiguous(out.shape),
    x.handle,
    { offset, strides: own },
    out.shape,
  );
  return res;
};

/** `pad`: `lo[i]`/`hi[i]` elements of `value` before/after each axis. */
export const padKernel: CpuKernel<"pad"> = (inputs, params, out) => {
  const x = inputs[0] as CpuOperand;
  const res = hostArray(out.dtype, sizeOf(out.shape)).fill(params.value);
  const to = contiguous(out.shape);
  let offset = 0;
  params.lo.forEach((l, i) => offset += l * to.strides[i]!);
  const inner: View = { offset, strides: to.strides };
  stridedCopy(res, inner, x.handle, contiguous(x.aval.shape), x.aval.shape);
  return res;
};

/** `concatenate` of any number of operands along `params.axis`. */
export const concatenateKernel: CpuKernel<"concatenate"> = (
  inputs,
  params,
  out,
) => {
  const res = hostArray(out.dtype, sizeOf(out.shape));
  const to = contiguous(out.shape);
  let at = 0;
  for (const x of inputs) {
    const view: View = {
      offset: at * to.strides[params.axis]!,
      strides: to.strides,
    };
    stridedCopy(res, view, x.handle, contiguous(x.aval.shape), x.aval.shape);
    at += x.aval.shape[params.axis]!;
  }
  return res;
};

/** An index made valid for an axis of length n: negative counts from the end, then clamps. */
function normIndex(i: number, n: number): number {
  const j = i < 0 ? i + n : i;
  return j < 0 ? 0 : j >= n ? n - 1 : j;
}

/**
 * `gather(x, idx)` along `axis`: `out[a, j, b] = x[a, idx[j], b]` with `a`
 * the axes before `axis`, `j` all of idx's axes and `b` the axes after.
 */
export const gatherKernel: CpuKernel<"gather"> = (inputs, params, out) => {
  const [x, idx] = inputs as [CpuOperand, CpuOperand];
  const shape = x.aval.shape, axis = params.axis;
  const outer = prod(shape, 0, axis), n = shape[axis]!;
  const inner = prod(shape, axis + 1), m = idx.handle.length;
  const res = hostArray(out.dtype, sizeOf(out.shape));
  if (res.length === 0) return res;
  if (n === 0) {
    throw new RangeError("gather: cannot take indices from an empty axis");
  }
  const src = x.handle, ids = idx.handle;
  for (let a = 0; a < outer; a++) {
    for (let j = 0; j < m; j++) {
      const from = (a * n + normIndex(ids[j]!, n)) * inner;
      const to = (a * m + j) * inner;
      for (let b = 0; b < inner; b++) res[to + b] = src[from + b]!;
    }
  }
  return res;
};

/**
 * `scatter_add(updates, idx)`: the transpose of `gather`. Starts from zeros
 * of `params.shape` and adds `updates[a, j, b]` at `[a, idx[j], b]`;
 * repeated indices accumulate (in float64 for float32, then rounded once).
 */
export const scatterAddKernel: CpuKernel<"scatter_add"> = (
  inputs,
  params,
  out,
) => {
  const [u, idx] = inputs as [CpuOperand, CpuOperand];
  const shape = params.shape, axis = params.axis;
  const outer = prod(shape, 0, axis), n = shape[axis]!;
  const inner = prod(shape, axis + 1), m = idx.handle.length;
  const acc = new Float64Array(sizeOf(shape));
  const src = u.handle, ids = idx.handle;
  if (n > 0) {
    for (let a = 0; a < outer; a++) {
      for (let j = 0; j < m; j++) {
        const to = (a * n + normIndex(ids[j]!, n)) * inner;
        const from = (a * m + j) * inner;
        for (let b = 0; b < inner; b++) acc[to + b]! += src[from + b]!;
      }
    }
  }
  const res = hostArray(out.dtype, acc.length);
  if (out.dtype === "bool") {
    for (let i = 0; i < acc.length; i++) res[i] = acc[i] !== 0 ? 1 : 0;
  } else {
    res.set(acc); // int32 sums wrap modulo 2^32
  }
  return res;
};

/** `iota`: each element is its coordinate along `dim` (bool: coordinate != 0). */
export const iotaKernel: CpuKernel<"iota"> = (_inputs, params, out) => {
  const shape = params.shape;
  const res = hostArray(out.dtype, sizeOf(shape));
  const n = shape[params.dim] ?? 1, inner = prod(shape, params.dim + 1);
  const isBool = out.dtype === "bool";
  for (let i = 0; i < res.length; i++) {
    const c = Math.floor(i / inner) % n;
    res[i] = isBool ? (c !== 0 ? 1 : 0) : c;
  }
  return res;
};

/**
 * `random_uniform`: the key operand with `path` folded in, then element i
 * (row-major) is bitsToUniform(randomBits(k0, k1, i)).
 */
export const randomUniformKernel: CpuKernel<"random_uniform"> = (
  inputs,
  params,
) => {
  const key = inputs[0]!.handle;
  let k0 = key[0]! >>> 0, k1 = key[1]! >>> 0;
  for (const [c0, c1] of params.path) [k0, k1] = threefry2x32(k0, k1, c0, c1);
  const res = new Float32Array(sizeOf(params.shape));
  fillUniform(k0, k1, res);
  return res;
};
