/**
 * The tile products of flash kernels as SIMD code (`_flash_codegen.ts`):
 * {@link dotTile}, a tile of dot products of rows (scores `Q·Kᵀ`, `gO·Vᵀ`),
 * and {@link weighTile}, rows plus weighted sums of rows (`O += P·V`, and
 * its transposed forms `dV += Pᵀ·gO` for the key side), and
 * {@link transposeTile} for the key side of the dot products. Row counts
 * are locals (a tile's last rows and keys), widths are constants, so the
 * inner steps are unrolled (up to 16) with constant memory offsets. Every
 * sum runs in a fixed order, so equal inputs give bit-equal results.
 *
 * @module
 */

import type { Fn, Local } from "./_asm.ts";
import { BC } from "./_flash_gen.ts";

/** Where a tile of dot products reads and writes. */
export interface DotTile {
  /** Byte address of row 0 of A (the query side). */
  readonly a: Local;
  /** Bytes between A's rows. */
  readonly aStride: number;
  /** Elements per dot product. */
  readonly width: number;
  /** Byte address of the result tile; row r at `dst + r·dstStride`. */
  readonly dst: Local;
  /** Bytes between result rows. */
  readonly dstStride: number;
  /** Rows of A (a local). */
  readonly rows: Local;
  /** Rows of B (a local), at most {@link BC}. */
  readonly cols: Local;
  /** Bᵀ (see {@link transposeTile}): `width × BC` float32. */
  readonly bt: Local;
  /** Use `f32x4.relaxed_madd`. */
  readonly fma: boolean;
}

/** Pushes `acc + x·y` of three v128 locals (fused where asked). */
export function madd(
  f: Fn,
  fma: boolean,
  x: Local,
  y: Local,
  acc: Local,
): void {
  if (fma) f.get(x).get(y).get(acc).simd("f32x4.relaxed_madd");
  else f.get(acc).get(x).get(y).simd("f32x4.mul").simd("f32x4.add");
}

/** Float32 lanes as the byte indices of `i8x16.shuffle`. */
function lanes(...ls: number[]): number[] {
  return ls.flatMap((l) => [4 * l, 4 * l + 1, 4 * l + 2, 4 * l + 3]);
}

/**
 * `bt[e·BC + c] = B[c][e]` for c < `cols` (a local) and e < `width`: 4 × 4
 * blocks through shuffles, then single elements.
 */
export function transposeTile(
  f: Fn,
  b: Local,
  bStride: number,
  width: number,
  cols: Local,
  bt: Local,
): void {
  const c = f.local("i32"), bp = f.local("i32"), kp = f.local("i32");
  const row = [0, 1, 2, 3].map(() => f.local("v128"));
  const u = [0, 1, 2, 3].map(() => f.local("v128"));
  const E = width & ~3;
  f.get(b).set(bp);
  f.get(bt).set(kp);
  f.i32(0).set(c);
  f.block(() =>
    f.loop(() => {
      f.get(c).i32(4).op("i32.add").get(cols).op("i32.gt_s").brIf(1);
      for (let e = 0; e < E; e += 4) {
        for (let i = 0; i < 4; i++) {
          f.get(bp).mem("v128.load", i * bStride + 4 * e).set(row[i]!);
        }
        const pair = (x: number, y: number, ls: number[], to: Local) =>
          f.get(row[x]!).get(row[y]!).shuffle(lanes(...ls)).set(to);
        pair(0, 1, [0, 4, 1, 5], u[0]!);
        pair(0, 1, [2, 6, 3, 7], u[1]!);
        pair(2, 3, [0, 4, 1, 5], u[2]!);
        pair(2, 3, [2, 6, 3, 7], u[3]!);
        const out = (x: number, y: number, ls: number[], i: number) => {
          f.get(kp).get(u[x]!).get(u[y]!).shuffle(lanes(...ls));
          f.mem("v128.store", 4 * (e + i) * BC);
        };
        out(0, 2, [0, 1, 4, 5], 0);
        out(0, 2, [2, 3, 6, 7], 1);
        out(1, 3, [0, 1, 4, 5], 2);
        out(1, 3, [2, 3, 6, 7], 3);
      }
      for (let i = 0; i < 4; i++) {
        for (let e = E; e < width; e++) {
          f.get(kp).get(bp).mem("f32.load", i * bStride + 4 * e);
          f.mem("f32.store", 4 * (e * BC + i));
        }
      }
      f.inc(c, 4).inc(bp, 4 * bStride).inc(kp, 16).br(0);
    })
  );
  f.block(() =>
    f.loop(() => {
      f.get(c).get(cols).op("i32.ge_s").brIf(1);
      for (let e = 0; e < width; e++) {
        f.get(kp).get(bp).mem("f32.load", 4 * e).mem("f32.store", 4 * e * BC);
      }
      f.inc(c, 1).inc(bp, bStride).inc(kp, 4).br(0);
    })
  );
}

/**
 * `dst[r][c] = Σ_e A[r][e]·B[c][e]`, summed in e order, from Bᵀ in `bt`
 * (one row per e, {@link transposeTile}): blocks of 4 rows × 8 keys
 * (eight accumulators, a splat of A per row and two loads of Bᵀ per e),
 * then single rows × 8 keys. Columns are computed up to the next multiple
 * of 8 (cells past `cols` hold junk that no pass reads).
 */
export function dotTile(f: Fn, t: DotTile): void {
  const c = f.local("i32"), r = f.local("i32");
  const kp = f.local("i32");
  const ar = f.local("i32"), dr = f.local("i32");
  const acc = Array.from({ length: 8 }, () => f.local("v128"));
  const k0 = f.local("v128"), k1 = f.local("v128"), qs = f.local("v128");
  const W = t.width;
  // e runs in trips of up to 16 unrolled steps (code size, compile time).
  const U = Math.min(W, 16), trips = Math.floor(W / Math.max(U, 1));
  const ea = f.local("i32"), ek = f.local("i32"), n = f.local("i32");
  const steps = (count: number, rows: number) => {
    for (let e = 0; e < count; e++) {
      f.get(ek).mem("v128.load", 4 * e * BC).set(k0);
      f.get(ek).mem("v128.load", 4 * e * BC + 16).set(k1);
      for (let x = 0; x < rows; x++) {
        f.get(ea).mem("v128.load32_splat", x * t.aStride + 4 * e).set(qs);
        madd(f, t.fma, qs, k0, acc[2 * x]!);
        f.set(acc[2 * x]!);
        madd(f, t.fma, qs, k1, acc[2 * x + 1]!);
        f.set(acc[2 * x + 1]!);
      }
    }
  };
  const micro = (rows: number) => {
    for (let a = 0; a < 2 * rows; a++) f.f32x4(0).set(acc[a]!);
    f.get(ar).set(ea);
    f.get(kp).set(ek);
    if (trips === 1) steps(U, rows);
    else if (trips > 1) {
      f.for(n, () => f.i32(0), () => f.i32(trips), 1, () => {
        steps(U, rows);
        f.inc(ea, 4 * U).inc(ek, 4 * U * BC);
      });
    }
    if (trips === 1) f.inc(ea, 4 * U).inc(ek, 4 * U * BC);
    steps(W - trips * U, rows);
    for (let x = 0; x < rows; x++) {
      f.get(dr).get(acc[2 * x]!).mem("v128.store", x * t.dstStride);
      f.get(dr).get(acc[2 * x + 1]!).mem("v128.store", x * t.dstStride + 16);
    }
  };
  /** Blocks of `rows` rows from row r on, over every 8 keys. */
  const band = (rows: number) => {
    f.get(t.a).get(r).i32(t.aStride).op("i32.mul").op("i32.add").set(ar);
    f.get(t.dst).get(r).i32(t.dstStride).op("i32.mul").op("i32.add").set(dr);
    f.get(t.bt).set(kp);
    f.for(c, () => f.i32(0), () => f.get(t.cols), 8, () => {
      micro(rows);
      f.inc(kp, 32).inc(dr, 32);
    });
  };
  f.i32(0).set(r);
  f.block(() =>
    f.loop(() => {
      f.get(r).i32(4).op("i32.add").get(t.rows).op("i32.gt_s").brIf(1);
      band(4);
      f.inc(r, 4).br(0);
    })
  );
  f.block(() =>
    f.loop(() => {
      f.get(r).get(t.rows).op("i32.ge_s").brIf(1);
      band(1);
      f.inc(r, 1).br(0);
    })
  );
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
  /** Use `f32x4.relaxed_madd`. */
  readonly fma: boolean;
}

/**
 * `out[x] += Σ_y W(x, y)·M[y]`, in y order: blocks of 4 output rows × 8
 * columns (eight accumulators; two loads of M and a splat of W per row
 * each y), then 4 columns, then single columns; then single rows alike.
 */
export function weighTile(f: Fn, t: WeighTile): void {
  const x = f.local("i32"), y = f.local("i32");
  const orow = f.local("i32"), wrow = f.local("i32");
  // The current columns: of the output rows and of M.
  const oc = f.local("i32"), mc = f.local("i32"), nb = f.local("i32");
  const wp = f.local("i32"), mp = f.local("i32");
  const p = f.local("v128"), m = [f.local("v128"), f.local("v128")];
  const acc = Array.from({ length: 8 }, () => f.local("v128"));
  const s = Array.from({ length: 4 }, () => f.local("f32"));
  /** 4·vecs columns (or one: vecs 0) at oc, mc of `rows` output rows. */
  const pass = (rows: number, vecs: number) => {
    const col = 0;
    const o = (xi: number, q: number) => xi * t.outStride + 4 * col + 16 * q;
    for (let xi = 0; xi < rows; xi++) {
      if (vecs === 0) f.get(oc).mem("f32.load", o(xi, 0)).set(s[xi]!);
      for (let q = 0; q < vecs; q++) {
        f.get(oc).mem("v128.load", o(xi, q)).set(acc[2 * xi + q]!);
      }
    }
    f.get(wrow).set(wp);
    f.get(mc).set(mp);
    /** The product of row y + `at` (offsets from the moving pointers). */
    const step = (at: number) => {
      const wo = at * t.wy, mo = at * t.mStride;
      if (vecs === 0) {
        for (let xi = 0; xi < rows; xi++) {
          f.get(s[xi]!).get(wp).mem("f32.load", wo + xi * t.wx);
          f.get(mp).mem("f32.load", mo + 4 * col).op("f32.mul").op("f32.add");
          f.set(s[xi]!);
        }
        return;
      }
      for (let q = 0; q < vecs; q++) {
        f.get(mp).mem("v128.load", mo + 4 * col + 16 * q).set(m[q]!);
      }
      for (let xi = 0; xi < rows; xi++) {
        f.get(wp).mem("v128.load32_splat", wo + xi * t.wx).set(p);
        for (let q = 0; q < vecs; q++) {
          madd(f, t.fma, p, m[q]!, acc[2 * xi + q]!);
          f.set(acc[2 * xi + q]!);
        }
      }
    };
    // Two rows of M a trip, then the last one.
    f.i32(0).set(y);
    f.block(() =>
      f.loop(() => {
        f.get(y).i32(2).op("i32.add").get(t.ys).op("i32.gt_s").brIf(1);
        step(0);
        step(1);
        f.inc(wp, 2 * t.wy).inc(mp, 2 * t.mStride).inc(y, 2).br(0);
      })
    );
    f.get(y).get(t.ys).op("i32.lt_s").if(() => step(0));
    for (let xi = 0; xi < rows; xi++) {
      if (vecs === 0) f.get(oc).get(s[xi]!).mem("f32.store", o(xi, 0));
      for (let q = 0; q < vecs; q++) {
        f.get(oc).get(acc[2 * xi + q]!).mem("v128.store", o(xi, q));
      }
    }
    const bytes = vecs === 0 ? 4 : 16 * vecs;
    f.inc(oc, bytes).inc(mc, bytes);
  };
  /** Output rows x.. in blocks of `rows`. */
  const band = (rows: number) => {
    f.get(t.out).get(x).i32(t.outStride).op("i32.mul").op("i32.add").set(orow);
    f.get(t.w).get(x).i32(t.wx).op("i32.mul").op("i32.add").set(wrow);
    f.get(orow).set(oc);
    f.get(t.m).set(mc);
    const blocks = t.width >> 3;
    if (blocks > 1) {
      f.for(nb, () => f.i32(0), () => f.i32(blocks), 1, () => pass(rows, 2));
    } else if (blocks === 1) pass(rows, 2);
    if (t.width & 4) pass(rows, 1);
    for (let col = 0; col < (t.width & 3); col++) pass(rows, 0);
  };
  f.i32(0).set(x);
  f.block(() =>
    f.loop(() => {
      f.get(x).i32(4).op("i32.add").get(t.xs).op("i32.gt_s").brIf(1);
      band(4);
      f.inc(x, 4).br(0);
    })
  );
  f.block(() =>
    f.loop(() => {
      f.get(x).get(t.xs).op("i32.ge_s").brIf(1);
      band(1);
      f.inc(x, 1).br(0);
    })
  );
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
