// Builds the Context every piece sees, and aligns per-example data with the
// scores. Private to attention/.
//
// Convention: per-example tensors share the *leading* axes of the scores.
// For scores [B, H, Tq, Tk]:
//   per example   lengths [B]       -> [B, 1, 1, 1]
//   per query     segments [B, Tq]  -> [B, 1, Tq, 1]
//   per key       keyMask [B, Tk]   -> [B, 1, 1, Tk]
// so that they broadcast over the heads (and any other inner batch axis).

import { add, arange, reshape, type Tensor, tensor } from "../ops/mod.ts";
export { broadcastShapes } from "../ops/mod.ts";
import type { AttentionOptions, Context } from "./types.ts";

/** Which trailing axis of the scores a per-token tensor runs along. */
export type Along = "example" | "query" | "key";

/**
 * Reshapes per-example data `x` (`[...P]`, or `[...P, T]` per query/key) to
 * broadcast against scores of rank `rank`, `P` aligned with the leading axes.
 */
export function align(
  op: string,
  x: Tensor,
  rank: number,
  along: Along,
): Tensor {
  const token = along === "example" ? 0 : 1;
  const prefix = x.shape.slice(0, x.ndim - token);
  if (prefix.length > rank - 2) {
    throw new TypeError(
      `${op}: per-example data [${x.shape}] has more leading axes than the scores' batch axes (rank ${rank})`,
    );
  }
  const t = x.shape[x.ndim - 1] ?? 1;
  const tail = along === "example" ? [1, 1] : along === "query" ? [t, 1] : [
    1,
    t,
  ];
  const ones = new Array<number>(rank - 2 - prefix.length).fill(1);
  return reshape(x, [...prefix, ...ones, ...tail]);
}

/** Int32 `lengths` from a tensor or a list of numbers. */
export function asLengths(x: Tensor | readonly number[]): Tensor {
  return Array.isArray(x)
    ? tensor(x as number[], { dtype: "int32" })
    : x as Tensor;
}

function checkPositions(op: string, p: Tensor, t: number, what: string): void {
  if (p.dtype !== "int32" || p.ndim < 1 || p.shape[p.ndim - 1] !== t) {
    throw new TypeError(
      `${op}: ${what} must be int32 [..., ${t}], got ${p.dtype}[${p.shape}]`,
    );
  }
}

/** The context of a call whose scores have shape `[...batch, tq, tk]`. */
export function makeContext(
  batch: readonly number[],
  tq: number,
  tk: number,
  opts: AttentionOptions,
): Context {
  const shape = [...batch, tq, tk];
  const rank = shape.length;
  let qPos: Tensor, kPos: Tensor;
  if (opts.qPositions) {
    checkPositions("attention", opts.qPositions, tq, "opts.qPositions");
    qPos = align("attention", opts.qPositions, rank, "query");
  } else {
    const off = opts.queryOffset ?? 0;
    if (!Number.isInteger(off)) {
      throw new RangeError(
        `attention: opts.queryOffset must be an integer, got ${off}`,
      );
    }
    // [Tq, 1]: broadcasts against [..., Tq, Tk] without adding axes.
    qPos = reshape(add(arange(tq), off), [tq, 1]);
  }
  if (opts.kPositions) {
    checkPositions("attention", opts.kPositions, tk, "opts.kPositions");
    kPos = align("attention", opts.kPositions, rank, "key");
  } else {
    kPos = reshape(arange(tk), [1, tk]);
  }
  return { shape, qPos, kPos, opts };
}
