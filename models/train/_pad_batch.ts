/**
 * Training batches padded to fewer lengths: masked pad-id columns up to a
 * multiple, so that jit compiles one program per padded length.
 *
 * @module
 */

import { concat, dispose, zeros } from "../../ops/mod.ts";
import type { LabelledBatch } from "../../data/mod.ts";

/** Tokens of batches that {@link padBatch} widened, as they were. */
const widened = new WeakMap<object, number>();

/** Tokens of a batch (padding included) as batched, before {@link padBatch}. */
export function batchTokens(b: LabelledBatch): number {
  return widened.get(b) ?? b.ids.size;
}

/** `b` with its length padded by masked pad ids up to a multiple of `m` (at most `maxLen`). */
export function padBatch(
  b: LabelledBatch,
  m: number,
  maxLen: number,
): LabelledBatch {
  const [rows, t] = b.ids.shape as [number, number];
  const tp = Math.max(t, Math.min(maxLen, Math.ceil(t / m) * m));
  if (tp === t) return b;
  const ids = concat([b.ids, zeros([rows, tp - t], { dtype: "int32" })], 1); // [B, T']
  const mask = concat([b.mask, zeros([rows, tp - t], { dtype: "bool" })], 1); // [B, T']
  dispose([b.ids, b.mask]);
  const out = { ...b, ids, mask };
  widened.set(out, rows * t);
  return out;
}
