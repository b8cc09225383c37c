/**
 * Shared pieces of the CPU reference backend: the kernel signature and the
 * one strided loop that every broadcasting, permuting and copying kernel
 * runs on.
 *
 * @module
 */

import type { Aval, HostArray } from "../dtype.ts";
import type { Params, Primitive } from "../primitives.ts";

/** A kernel input on the CPU: the host array itself and its abstract value. */
export interface CpuOperand {
  /** The storage: `Float32Array`, `Int32Array` or `Uint8Array` (bool, 0/1). */
  readonly handle: HostArray;
  /** Shape and dtype of the value. */
  readonly aval: Aval;
}

/** A CPU kernel: operands, typed params and the output aval to new storage. */
export type CpuKernel<P extends Primitive> = (
  inputs: readonly CpuOperand[],
  params: Params<P>,
  out: Aval,
) => HostArray;

/**
 * How one operand is laid out over the iteration shape: a base offset into
 * its flat storage and one stride per iteration axis (0 on broadcast axes).
 */
export interface View {
  /** Flat index of the element at the origin of the iteration. */
  readonly offset: number;
  /** Flat-index step per iteration axis; 0 repeats the element. */
  readonly strides: readonly number[];
}

/**
 * Visits one contiguous run of the iteration: `offs[k]` is operand k's first
 * element and `steps[k]` its stride along the run of `n` elements. Both
 * arrays are reused between calls; read them, do not keep them.
 */
export type RunVisitor = (
  offs: readonly number[],
  n: number,
  steps: readonly number[],
) => void;

/** Row-major strides of `shape` (a contiguous view). */
export function contiguous(shape: readonly number[], offset = 0): View {
  const strides = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = acc;
    acc *= shape[i]!;
  }
  return { offset, strides };
}

/**
 * The view of a contiguous operand of shape `inShape` broadcast (NumPy
 * rules: align right, dims of 1 repeat) over `outShape`.
 */
export function broadcastView(
  inShape: readonly number[],
  outShape: readonly number[],
): View {
  const own = contiguous(inShape).strides;
  const lead = outShape.length - inShape.length;
  const strides = outShape.map((_, i) => {
    const j = i - lead;
    return j < 0 || inShape[j] === 1 ? 0 : own[j]!;
  });
  return { offset: 0, strides };
}

/**
 * The strided loop behind every elementwise and layout kernel. It walks
 * `shape` in row-major order and calls `visit` once per innermost run.
 *
 * Axes of extent 1 are dropped, and neighbouring axes merge whenever every
 * operand steps through them as through one axis. So equal shapes become a
 * single run over all elements, and a broadcast last axis (`[m,n] + [m,1]`)
 * becomes `m` runs of `n` with step 0 for the broadcast operand.
 */
export function forEachRun(
  shape: readonly number[],
  views: readonly View[],
  visit: RunVisitor,
): void {
  const nv = views.length;
  const dims: number[] = [];
  const st: number[][] = views.map(() => []);
  for (let ax = 0; ax < shape.length; ax++) {
    const d = shape[ax]!;
    if (d === 0) return;
    if (d === 1) continue;
    const last = dims.length - 1;
    let merge = last >= 0;
    for (let k = 0; k < nv && merge; k++) {
      merge = st[k]![last] === views[k]!.strides[ax]! * d;
    }
    if (merge) {
      dims[last]! *= d;
      for (let k = 0; k < nv; k++) st[k]![last] = views[k]!.strides[ax]!;
    } else {
      dims.push(d);
      for (let k = 0; k < nv; k++) st[k]!.push(views[k]!.strides[ax]!);
    }
  }
  const offs = views.map((v) => v.offset);
  const rank = dims.length;
  if (rank === 0) {
    visit(offs, 1, views.map(() => 0));
    return;
  }
  const n = dims[rank - 1]!;
  const steps = st.map((s) => s[rank - 1]!);
  const idx = new Array<number>(rank - 1).fill(0);
  for (;;) {
    visit(offs, n, steps);
    // Odometer over the outer axes, moving every operand's offset with it.
    let ax = rank - 2;
    for (; ax >= 0; ax--) {
      const d = dims[ax]!;
      if (++idx[ax]! < d) {
        for (let k = 0; k < nv; k++) offs[k]! += st[k]![ax]!;
        break;
      }
      idx[ax] = 0;
      for (let k = 0; k < nv; k++) offs[k]! -= st[k]![ax]! * (d - 1);
    }
    if (ax < 0) return;
  }
}

/**
 * Copies `src` (seen through `from`) into `dst` (seen through `to`) over the
 * iteration `shape`. Both arrays must have the same element type.
 */
export function stridedCopy(
  dst: HostArray,
  to: View,
  src: HostArray,
  from: View,
  shape: readonly number[],
): void {
  forEachRun(shape, [to, from], (offs, n, steps) => {
    const od = offs[0]!, os = offs[1]!, sd = steps[0]!, ss = steps[1]!;
    if (sd === 1 && ss === 1 && n >= 64) {
      dst.set(src.subarray(os, os + n), od);
    } else {
      for (let i = 0; i < n; i++) dst[od + i * sd] = src[os + i * ss]!;
    }
  });
}

/** A contiguous copy of `x` with its axes permuted (`out axis i = perm[i]`). */
export function permuted<T extends HostArray>(
  x: T,
  shape: readonly number[],
  perm: readonly number[],
): T {
  const own = contiguous(shape).strides;
  const outShape = perm.map((a) => shape[a]!);
  const out = new (x.constructor as { new (n: number): T })(x.length);
  const from: View = { offset: 0, strides: perm.map((a) => own[a]!) };
  stridedCopy(out, contiguous(outShape), x, from, outShape);
  return out;
}

/** Product of `shape[from..to)`. */
export function prod(
  shape: readonly number[],
  from = 0,
  to = shape.length,
): number {
  let n = 1;
  for (let i = from; i < to; i++) n *= shape[i]!;
  return n;
}
