/**
 * `dot_general` on the wasm backend: the plan (strides of A and B as
 * `[batch, rows, cols]` views, so transposed operands are never copied) and
 * the two thread drivers, packing B and multiplying, one unit at a time.
 *
 * The drivers are self-contained functions: `_threads.ts` ships their
 * source text to the workers, so they may use only their arguments.
 *
 * @module
 */

import { stridesOf } from "../../dtype.ts";
import type { Params } from "../../primitives.ts";
import type { Exports } from "./_threads.ts";

/** `[batch, rows, cols]` strides (in elements) of both operands. */
export interface GemmPlan {
  /** Batch count. */
  readonly batch: number;
  /** Rows of A and C. */
  readonly m: number;
  /** Columns of B and C. */
  readonly n: number;
  /** Contracted extent. */
  readonly k: number;
  /** A's strides: batch, row, contraction. */
  readonly sa: readonly [number, number, number];
  /** B's strides: batch, contraction, column. */
  readonly sb: readonly [number, number, number];
}

/** Extent and stride of a group of axes, or null if they do not merge. */
function group(
  shape: readonly number[],
  axes: readonly number[],
): [number, number] | null {
  const st = stridesOf(shape);
  const live = axes.filter((a) => shape[a] !== 1);
  let extent = 1;
  for (const a of axes) extent *= shape[a]!;
  if (live.length === 0) return [extent, 0];
  for (let i = 0; i + 1 < live.length; i++) {
    if (st[live[i]!] !== st[live[i + 1]!]! * shape[live[i + 1]!]!) return null;
  }
  return [extent, st[live[live.length - 1]!]!];
}

/** The strided plan of a `dot_general`, or null when an axis group does not merge. */
export function gemmPlan(
  xs: readonly number[],
  ys: readonly number[],
  p: Params<"dot_general">,
): GemmPlan | null {
  const lFree = [...xs.keys()].filter((a) =>
    !p.lhsContract.includes(a) && !p.lhsBatch.includes(a)
  );
  const rFree = [...ys.keys()].filter((a) =>
    !p.rhsContract.includes(a) && !p.rhsBatch.includes(a)
  );
  const ab = group(xs, p.lhsBatch), am = group(xs, lFree);
  const ak = group(xs, p.lhsContract);
  const bb = group(ys, p.rhsBatch), bk = group(ys, p.rhsContract);
  const bn = group(ys, rFree);
  if (!ab || !am || !ak || !bb || !bk || !bn) return null;
  return {
    batch: ab[0],
    m: am[0],
    n: bn[0],
    k: ak[0],
    sa: [ab[1], am[1], ak[1]],
    sb: [bb[1], bk[1], bn[1]],
  };
}

/**
 * Packs B panels: unit u is a group of `group` panels of one batch.
 * Args: bp, b, batch, K, N, sBb, sBk, sBj, panels, NR, group.
 */
export function packBDriver(
  ex: Exports,
  ctl: Int32Array,
  u: number,
  _tid: number,
): void {
  const bp = ctl[8]!, b = ctl[9]!, K = ctl[11]!;
  const N = ctl[12]!, sBb = ctl[13]!, sBk = ctl[14]!, sBj = ctl[15]!;
  const panels = ctl[16]!, NR = ctl[17]!, group = ctl[18]!;
  const groups = Math.ceil(panels / group);
  const t = Math.floor(u / groups), p0 = (u - t * groups) * group;
  ex.pack_b!(
    bp + t * panels * K * NR * 4,
    b + t * sBb * 4,
    K,
    N,
    sBk,
    sBj,
    p0,
    Math.min(panels, p0 + group),
  );
}

/**
 * Multiplies one unit, a (batch, row block, column chunk) triple; the
 * thread packs its A block into its own buffer.
 * Args: a, bp, c, batch, M, N, K, sAb, sAi, sAk, panels, mc, kc, apBase,
 * apStride, scratchBase, colChunks, NR.
 */
export function gemmDriver(
  ex: Exports,
  ctl: Int32Array,
  u: number,
  tid: number,
): void {
  const a = ctl[8]!, bp = ctl[9]!, c = ctl[10]!;
  const M = ctl[12]!, N = ctl[13]!, K = ctl[14]!;
  const sAb = ctl[15]!, sAi = ctl[16]!, sAk = ctl[17]!, panels = ctl[18]!;
  const mc = ctl[19]!, kcMax = ctl[20]!, ap = ctl[21]! + tid * ctl[22]!;
  const scratch = ctl[23]! + tid * 1024, chunks = ctl[24]!, NR = ctl[25]!;
  const rowBlocks = Math.ceil(M / mc);
  const chunk = Math.ceil(panels / chunks);
  const cb = u % chunks, rest = Math.floor(u / chunks);
  const rb = rest % rowBlocks, t = Math.floor(rest / rowBlocks);
  const i0 = rb * mc, m = Math.min(mc, M - i0);
  const j0 = cb * chunk, j1 = Math.min(panels, j0 + chunk);
  if (j0 >= j1) return;
  const bpt = bp + t * panels * K * NR * 4;
  const ct = c + (t * M * N + i0 * N) * 4;
  for (let pc = 0; pc < K; pc += kcMax) {
    const kc = Math.min(kcMax, K - pc);
    ex.pack_a!(ap, a + (t * sAb + i0 * sAi + pc * sAk) * 4, m, kc, sAi, sAk);
    ex.macro!(
      ap,
      bpt + pc * NR * 4,
      kc,
      ct,
      N * 4,
      m,
      j0,
      j1,
      N,
      K * NR * 4,
      pc > 0 ? 1 : 0,
      scratch,
    );
  }
}
