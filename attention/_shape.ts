// Small shape helpers shared by the pieces. Private to attention/.

import { concat, reshape, slice, type Tensor, transpose } from "../ops/mod.ts";
import type { Context } from "./types.ts";

/** Swaps the last two axes: `[..., T, d] -> [..., d, T]`. */
export function swapLast(x: Tensor): Tensor {
  const perm = [...x.shape.keys()];
  const n = perm.length;
  [perm[n - 2], perm[n - 1]] = [n - 1, n - 2];
  return transpose(x, perm);
}

/** The feature size of `x [..., T, d]`, or a TypeError naming `op`. */
export function lastDim(op: string, x: Tensor, what: string): number {
  if (x.ndim < 2) {
    throw new TypeError(`${op}: ${what} must be [..., T, d], got [${x.shape}]`);
  }
  return x.shape[x.ndim - 1]!;
}

/** Moves axis `from` of `x` to position `to` (both non-negative). */
export function moveAxis(x: Tensor, from: number, to: number): Tensor {
  const perm = [...x.shape.keys()].filter((a) => a !== from);
  perm.splice(to, 0, from);
  return transpose(x, perm);
}

/**
 * Reshapes per-head values `[H]` to broadcast at axis -3 of the scores
 * (`[H, 1, 1]`), or to a scalar when the scores have no head axis.
 */
export function perHead(op: string, x: Tensor, ctx: Context): Tensor {
  if (x.ndim !== 1) {
    throw new TypeError(
      `${op}: expected one value per head [H], got [${x.shape}]`,
    );
  }
  const h = x.shape[0]!;
  if (ctx.shape.length < 3) {
    if (h !== 1) {
      throw new TypeError(
        `${op}: ${h} heads but the scores [${ctx.shape}] have no head axis (-3)`,
      );
    }
    return reshape(x, []);
  }
  return reshape(x, [h, 1, 1]);
}

/** Elements above which pieces with Tk² or Tk·h intermediates work in chunks. */
export const CHUNK_ELEMENTS = 1 << 24; // 16M floats, 64 MiB

/**
 * Applies `fn` to row blocks of `x [..., T, n]` (axis -2) and concatenates
 * the results along axis -2, so that an intermediate of `perRow` elements
 * per row stays under {@link CHUNK_ELEMENTS}. Row-wise computations (one
 * query at a time) give the same result, with bounded memory.
 */
export function byRows(
  x: Tensor,
  perRow: number,
  fn: (rows: Tensor) => Tensor,
): Tensor {
  const t = x.shape[x.ndim - 2]!;
  const rows = Math.max(1, Math.floor(CHUNK_ELEMENTS / Math.max(1, perRow)));
  if (rows >= t) return fn(x);
  const parts: Tensor[] = [];
  for (let start = 0; start < t; start += rows) {
    const begin = x.shape.map((_, a) => (a === x.ndim - 2 ? start : 0));
    const size = x.shape.map((d, a) =>
      a === x.ndim - 2 ? Math.min(rows, t - start) : d
    );
    parts.push(fn(slice(x, begin, size)));
  }
  return concat(parts, -2);
}
