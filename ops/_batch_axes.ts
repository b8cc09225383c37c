// What the batching rules share: the rule type and moves of the batch
// axis. Private to ops/ (used by batching.ts and batching_shape.ts).

import { bind, scalar } from "./core.ts";
import type { Params, Primitive } from "./primitives.ts";
import type { Tensor } from "./tensor.ts";
import { backendOf } from "./_convert.ts";

/** Where an operand's batch axis is, or `null` when it is the same for every example. */
export type Bdim = number | null;

/**
 * A batching rule: batched operands (`dims[i]` is operand `i`'s batch axis)
 * and params to the batched output and its batch axis; `size` is the
 * number of examples.
 */
export type BatchRule<P extends Primitive> = (
  xs: readonly Tensor[],
  dims: readonly Bdim[],
  params: Params<P>,
  size: number,
) => [Tensor, Bdim];

/** `x` with axis `from` moved to position `to` (the others keep their order). */
export function moveAxis(x: Tensor, from: number, to: number): Tensor {
  if (from === to) return x;
  const perm = [...Array(x.ndim).keys()].filter((a) => a !== from);
  perm.splice(to, 0, from);
  return bind("transpose", [x], { perm });
}

/** `x` with its batch axis `d` moved to the front. */
export function toFront(x: Tensor, d: number): Tensor {
  return moveAxis(x, d, 0);
}

/** `x` batched at the front: moved there, or repeated `size` times if unbatched. */
export function batchedAtFront(x: Tensor, d: Bdim, size: number): Tensor {
  if (d !== null) return toFront(x, d);
  return bind("broadcast_in_dim", [x], {
    shape: [size, ...x.shape],
    dims: x.shape.map((_, i) => i + 1),
  });
}

/** `v` with `item` inserted at position `at`. */
export function insertAt<T>(v: readonly T[], at: number, item: T): T[] {
  return [...v.slice(0, at), item, ...v.slice(at)];
}

/** An int32 scalar on the backend of `like`. */
export function int32(value: number, like: Tensor): Tensor {
  return scalar(value, "int32", backendOf([like]));
}

/** The rule of an operand-free generator: the same value for every example. */
export function notBatched<P extends Primitive>(prim: P): BatchRule<P> {
  return (xs, _dims, params) => [bind(prim, xs, params), null];
}
