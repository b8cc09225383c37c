// Index maps for fusion: how a fused kernel's iteration index reads a
// value. Broadcasts, transposes and reshapes that only add or drop unit
// axes are index maps, so the fusion pass reads through them instead of
// materialising them. Private to ops/jit/passes/.

import { sameShape, stridesOf } from "../../dtype.ts";
import type { Params } from "../../primitives.ts";
import type { Atom, Eqn } from "../program.ts";

/**
 * For each axis of a value: the iteration axis whose index it takes, or -1
 * where its index is always 0 (a unit axis, or one broadcast away).
 */
export type AxisMap = readonly number[];

/** The map of a value read at its own index (`rank` axes). */
export function identityMap(rank: number): AxisMap {
  return [...Array(rank).keys()];
}

/**
 * NumPy broadcasting: a value of `shape` read at an index of `iter`
 * (right-aligned axes; unit axes read index 0).
 */
export function broadcastMap(
  shape: readonly number[],
  iter: readonly number[],
): AxisMap {
  const lead = iter.length - shape.length;
  return shape.map((n, k) => (n === 1 ? -1 : k + lead));
}

/**
 * A value read through `inner` (its axes to an intermediate's axes) by an
 * intermediate read through `outer` (its axes to the iteration's axes).
 */
export function composeMaps(inner: AxisMap, outer: AxisMap): AxisMap {
  return inner.map((m) => (m < 0 ? -1 : outer[m]!));
}

/** A string that tells maps apart (memo keys). */
export function mapKey(m: AxisMap): string {
  return m.join(",");
}

/**
 * The load strides, one per iteration axis, of a contiguous buffer of
 * `shape` read through `map` by an iteration of `rank` axes.
 */
export function loadStrides(
  shape: readonly number[],
  map: AxisMap,
  rank: number,
): number[] {
  const out = new Array<number>(rank).fill(0);
  const c = stridesOf(shape);
  map.forEach((d, k) => {
    if (d >= 0 && shape[k]! !== 1) out[d]! += c[k]!;
  });
  return out;
}

/**
 * A layout equation's result seen as a read of `src`: `src`'s buffer taken
 * as a contiguous array of `srcShape` (a reshape changes it) and indexed
 * through `map` (per `srcShape` axis, the result's axis or -1).
 */
export interface View {
  /** The value whose buffer is read (a literal: every element is it). */
  readonly src: Atom;
  /** The shape `src`'s buffer is taken as (its own unless reshaped). */
  readonly srcShape: readonly number[];
  /** Per `srcShape` axis: the view's axis that indexes it, or -1. */
  readonly map: AxisMap;
  /** The layout equations from `src` to the view, in order. */
  readonly eqns: readonly Eqn[];
}

/** Whether a view reads `src` under another shape (then `src` must exist as a buffer). */
export function reshaped(v: View): boolean {
  return v.src.kind === "var" && !sameShape(v.srcShape, v.src.aval.shape);
}

/** The trivial view of a value: itself. */
export function selfView(v: Atom): View {
  return {
    src: v,
    srcShape: v.aval.shape,
    map: identityMap(v.aval.shape.length),
    eqns: [],
  };
}

/** The non-unit axes of a shape. */
function nonUnit(shape: readonly number[]): number[] {
  return [...shape.keys()].filter((k) => shape[k] !== 1);
}

/**
 * The view of layout equation `e` (`transpose`, `broadcast_in_dim`, or a
 * `reshape` of a plain buffer or one that only adds or drops unit axes)
 * over `operand`, the view of its input; null when `e` is none of these.
 */
export function layoutView(e: Eqn, operand: View): View | null {
  const inShape = e.inputs[0]!.aval.shape;
  const outShape = e.outs[0]!.aval.shape;
  const eqns = [...operand.eqns, e];
  const { src, srcShape, map } = operand;
  switch (e.prim) {
    case "transpose": {
      const { perm } = e.params as Params<"transpose">;
      const inv = new Array<number>(perm.length);
      perm.forEach((k, d) => (inv[k] = d));
      return { src, srcShape, map: map.map((m) => m < 0 ? -1 : inv[m]!), eqns };
    }
    case "broadcast_in_dim": {
      const { dims } = e.params as Params<"broadcast_in_dim">;
      return {
        src,
        srcShape,
        map: map.map((m) => (m < 0 || inShape[m] === 1 ? -1 : dims[m]!)),
        eqns,
      };
    }
    case "reshape": {
      const plain = sameShape(srcShape, inShape) &&
        map.every((m, k) => m === k);
      if (plain) {
        return {
          src,
          srcShape: outShape,
          map: identityMap(outShape.length),
          eqns,
        };
      }
      // Adding or dropping unit axes keeps the other axes in order.
      const from = nonUnit(inShape), to = nonUnit(outShape);
      if (
        from.length !== to.length ||
        from.some((k, i) => inShape[k] !== outShape[to[i]!])
      ) return null;
      const where = new Map(from.map((k, i) => [k, to[i]!]));
      return {
        src,
        srcShape,
        map: map.map((m) => (m < 0 ? -1 : where.get(m) ?? -1)),
        eqns,
      };
    }
    default:
      return null;
  }
}
