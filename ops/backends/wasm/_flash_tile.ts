/**
 * The tile products of flash kernels as SIMD code (`_flash_codegen.ts`):
 * {@link dotTile}, a tile of dot products of rows (scores `Q·Kᵀ`, `gO·Vᵀ`),
 * and {@link weighTile}, rows plus weighted sums of rows (`O += P·V`, and
 * its transposed forms `dV += Pᵀ·gO` for the key side). Row counts are
 * locals (a tile's last rows and keys), widths are constants, so the inner
 * loops are unrolled with constant memory offsets. Every sum runs in a
 * fixed order, so equal inputs give bit-equal results.
 *
 * @module
 */

import type { Fn, Local } from "./_asm.ts";
import type * as M from "./_math.ts";

/** Float32 lanes 0,1 of a and 0,1 of b, interleaved: a0 b0 a1 b1. */
const LO = [0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23];
/** a2 b2 a3 b3. */
const HI = [8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29, 30, 31];
/** a0 a1 b0 b1. */
const LO64 = [0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23];
/** a2 a3 b2 b3. */
const HI64 = [8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31];

/** a2 a3 a0 a1. */
const SWAP64 = [8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7];

/** Where a tile of dot products reads and writes. */
export interface DotTile {
  /** Byte address of row 0 of A (the query side). */
  readonly a: Local;
  /** Bytes between A's rows. */
  readonly aStride: number;
  /** Byte address of row 0 of B (the key side). */
  readonly b: Local;
  /** Bytes between B's rows. */
  readonly bStride: number;
  /** Elements per dot product. */
  readonly width: number;
  /** Byte address of the result tile; row r at `dst + r·dstStride`. */
  readonly dst: Local;
  /** Bytes between result rows. */
  readonly dstStride: number;
  /** Rows of A (a local). */
  readonly rows: Local;
  /** Rows of B (a local). */
  readonly cols: Local;
}

/**
 * `dst[r][c] = Σ_e A[r][e]·B[c][e]`: four keys a step, each with four
 * lanes of partial sums over e (then reduced as (l0 + l2) + (l1 + l3)),
 * then single keys with the same order, so a key's dot product does not
 * depend on its position in the tile.
 */
export function dotTile(f: Fn, t: DotTile): void {
  const r = f.local("i32"), c = f.local("i32");
  const ar = f.local("i32"), dr = f.local("i32"), bp = f.local("i32");
  const acc = [0, 1, 2, 3].map(() => f.local("v128"));
  const u = f.local("v128"), v = f.local("v128");
  const steps = t.width >> 2;
  const body = (keys: 1 | 4) => {
    for (let k = 0; k < keys; k++) f.f32x4(0).set(acc[k]!);
    for (let s = 0; s < steps; s++) {
      for (let k = 0; k < keys; k++) {
        f.get(acc[k]!).get(ar).mem("v128.load", 16 * s);
        f.get(bp).mem("v128.load", 16 * s + k * t.bStride);
        f.simd("f32x4.mul").simd("f32x4.add").set(acc[k]!);
      }
    }
    if (keys === 4) {
      f.get(acc[0]!).get(acc[1]!).shuffle(LO);
      f.get(acc[0]!).get(acc[1]!).shuffle(HI).simd("f32x4.add").set(u);
      f.get(acc[2]!).get(acc[3]!).shuffle(LO);
      f.get(acc[2]!).get(acc[3]!).shuffle(HI).simd("f32x4.add").set(v);
      f.get(u).get(v).shuffle(LO64).get(u).get(v).shuffle(HI64);
      f.simd("f32x4.add").set(u);
      for (let e = 4 * steps; e < t.width; e++) {
        // Lane k: B[c + k][e].
        f.get(bp).mem("v128.load32_splat", 4 * e).set(v);
        for (let k = 1; k < 4; k++) {
          f.get(bp).get(v).loadLane(k, 4 * e + k * t.bStride).set(v);
        }
        f.get(v).get(ar).mem("v128.load32_splat", 4 * e).simd("f32x4.mul");
        f.get(u).simd("f32x4.add").set(u);
      }
      f.get(dr).get(u).mem("v128.store");
      return;
    }
    const s = f.local("f32");
    f.get(acc[0]!).get(acc[0]!).get(acc[0]!).shuffle(SWAP64)
      .simd("f32x4.add").set(u);
    f.get(u).simd("f32x4.extract_lane", 0).get(u).simd("f32x4.extract_lane", 1)
      .op("f32.add").set(s);
    for (let e = 4 * steps; e < t.width; e++) {
      f.get(s).get(ar).mem("f32.load", 4 * e).get(bp).mem("f32.load", 4 * e)
        .op("f32.mul").op("f32.add").set(s);
    }
    f.get(dr).get(s).mem("f32.store");
  };
  f.for(r, () => f.i32(0), () => f.get(t.rows), 1, () => {
    f.get(t.a).get(r).i32(t.aStride).op("i32.mul").op("i32.add").set(ar);
    f.get(t.dst).get(r).i32(t.dstStride).op("i32.mul").op("i32.add").set(dr);
    f.get(t.b).set(bp);
    f.i32(0).set(c);
    f.block(() =>
      f.loop(() => {
        f.get(c).i32(4).op("i32.add").get(t.cols).op("i32.gt_s").brIf(1);
        body(4);
        f.inc(c, 4).inc(dr, 16).inc(bp, 4 * t.bStride).br(0);
      })
    );
    f.block(() =>
      f.loop(() => {
        f.get(c).get(t.cols).op("i32.ge_s").brIf(1);
        body(1);
        f.inc(c, 1).inc(dr, 4).inc(bp, t.bStride).br(0);
      })
    );
  });
}

/** Where a weighted sum of rows reads and writes. */
export interface WeighTile {
  /** Byte address of W(0, 0). */
  readonly w: Local;
  /** Bytes between W(x, ·) and W(x + 1, ·). */
  readonly wx: number;
  /** Bytes between W(·, y) and W(·, y + 1). */
  readonly wy: number;
  /** Byte address of row 0 of the summed rows M. */
  readonly m: Local;
  /** Bytes between M's rows. */
  readonly mStride: number;
  /** Byte address of output row 0. */
  readonly out: Local;
  /** Bytes between output rows. */
  readonly outStride: number;
  /** Elements per row. */
  readonly width: number;
  /** Output rows (a local). */
  readonly xs: Local;
  /** Summed rows (a local). */
  readonly ys: Local;
}

/**
 * `out[x] += Σ_y W(x, y)·M[y]`, in y order: 16 columns a pass (four
 * accumulators), then 4, then single columns.
 */
export function weighTile(f: Fn, t: WeighTile): void {
  const x = f.local("i32"), y = f.local("i32");
  const orow = f.local("i32"), wrow = f.local("i32");
  const wp = f.local("i32"), mp = f.local("i32");
  const p = f.local("v128");
  const acc = [0, 1, 2, 3].map(() => f.local("v128"));
  const s = f.local("f32");
  const pass = (col: number, vecs: number) => {
    if (vecs > 0) {
      for (let q = 0; q < vecs; q++) {
        f.get(orow).mem("v128.load", 4 * col + 16 * q).set(acc[q]!);
      }
    } else f.get(orow).mem("f32.load", 4 * col).set(s);
    f.get(wrow).set(wp);
    f.get(t.m).set(mp);
    f.for(y, () => f.i32(0), () => f.get(t.ys), 1, () => {
      if (vecs > 0) {
        f.get(wp).mem("v128.load32_splat").set(p);
        for (let q = 0; q < vecs; q++) {
          f.get(acc[q]!).get(p).get(mp).mem("v128.load", 4 * col + 16 * q);
          f.simd("f32x4.mul").simd("f32x4.add").set(acc[q]!);
        }
      } else {
        f.get(s).get(wp).mem("f32.load").get(mp).mem("f32.load", 4 * col);
        f.op("f32.mul").op("f32.add").set(s);
      }
      f.inc(wp, t.wy).inc(mp, t.mStride);
    });
    if (vecs > 0) {
      for (let q = 0; q < vecs; q++) {
        f.get(orow).get(acc[q]!).mem("v128.store", 4 * col + 16 * q);
      }
    } else f.get(orow).get(s).mem("f32.store", 4 * col);
  };
  f.for(x, () => f.i32(0), () => f.get(t.xs), 1, () => {
    f.get(t.out).get(x).i32(t.outStride).op("i32.mul").op("i32.add").set(orow);
    f.get(t.w).get(x).i32(t.wx).op("i32.mul").op("i32.add").set(wrow);
    let col = 0;
    for (; col + 16 <= t.width; col += 16) pass(col, 4);
    for (; col + 4 <= t.width; col += 4) pass(col, 1);
    for (; col < t.width; col++) pass(col, 0);
  });
}

/** Scales `width` floats at `row` by the f32 local `k`. */
export function scaleRow(f: Fn, row: Local, width: number, k: Local): void {
  const kv = f.local("v128");
  f.get(k).simd("f32x4.splat").set(kv);
  let col = 0;
  for (; col + 4 <= width; col += 4) {
    f.get(row).get(row).mem("v128.load", 4 * col).get(kv).simd("f32x4.mul");
    f.mem("v128.store", 4 * col);
  }
  for (; col < width; col++) {
    f.get(row).get(row).mem("f32.load", 4 * col).get(k).op("f32.mul");
    f.mem("f32.store", 4 * col);
  }
}

/** Pushes `body(x)` for the f32 on the stack, as an f32 (lane 0 of the SIMD body). */
export function scalar(f: Fn, body: M.VecBody): void {
  const v = f.local("v128");
  f.simd("f32x4.splat").set(v);
  body(f, v);
  f.simd("f32x4.extract_lane", 0);
}

/** Pushes the sum of the four lanes of `v`, as (l0 + l2) + (l1 + l3). */
export function hsum(f: Fn, v: Local): void {
  const u = f.local("v128");
  f.get(v).get(v).get(v).shuffle(SWAP64).simd("f32x4.add").set(u);
  f.get(u).simd("f32x4.extract_lane", 0).get(u).simd("f32x4.extract_lane", 1)
    .op("f32.add");
}

/** Pushes the largest of the four lanes of `v` (NaN propagating). */
export function hmax(f: Fn, v: Local): void {
  const u = f.local("v128");
  f.get(v).get(v).get(v).shuffle(SWAP64).simd("f32x4.max").set(u);
  f.get(u).simd("f32x4.extract_lane", 0).get(u).simd("f32x4.extract_lane", 1)
    .op("f32.max");
}
