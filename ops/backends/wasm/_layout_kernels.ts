/**
 * The wasm backend's data-movement and reduction kernels: strided copies
 * (transpose, broadcast, slice, pad, concatenate), a 4 × 4 SIMD block
 * transpose, gather, and row and column reductions. Pointers and strides
 * are in bytes.
 *
 * @module
 */

import { Fn, type Local, type PlainOp, type SimdOp } from "./_asm.ts";

/**
 * `(n, mode, o, s, cs, co)`: one run of a copy of `bytes`-byte elements.
 * Mode 0: `s` is contiguous; 1: `s` is one element repeated; 2: `s` steps
 * by `cs` bytes and `o` by `co` (in modes 0 and 1, `o` is contiguous).
 */
export function copyRun(bytes: 1 | 4): Fn {
  const f = new Fn(Array(6).fill("i32"), []);
  const [n, mode, o, s, cs, co] = [0, 1, 2, 3, 4, 5];
  const i = f.local("i32"), n4 = f.local("i32"), v = f.local("v128");
  const shift = bytes === 4 ? 2 : 0;
  const load = bytes === 4 ? "i32.load" : "i32.load8_u";
  const store = bytes === 4 ? "i32.store" : "i32.store8";
  const dst = () => f.get(o).get(i).i32(shift).op("i32.shl").op("i32.add");
  f.get(mode).op("i32.eqz").if(() => {
    f.get(o).get(s).get(n).i32(shift).op("i32.shl").memoryCopy();
  }, () =>
    f.get(mode).i32(1).op("i32.eq").if(() => {
      if (bytes === 1) {
        f.get(o).get(s).mem("i32.load8_u").get(n).memoryFill();
        return;
      }
      f.get(s).mem("v128.load32_splat").set(v);
      f.get(n).i32(-4).op("i32.and").set(n4);
      f.for(i, () => f.i32(0), () => f.get(n4), 4, () => {
        dst().get(v).mem("v128.store");
      });
      f.for(i, () => f.get(n4), () => f.get(n), 1, () => {
        dst().get(s).mem("i32.load").mem("i32.store");
      });
    }, () => {
      f.for(i, () => f.i32(0), () => f.get(n), 1, () => {
        f.get(o).get(s).mem(load).mem(store);
        f.inc(s, cs, true).inc(o, co, true);
      });
    }));
  return f;
}

/** 32-bit lane indices of `i8x16.shuffle` as byte indices. */
function lanes(ls: readonly number[]): number[] {
  return ls.flatMap((l) => [4 * l, 4 * l + 1, 4 * l + 2, 4 * l + 3]);
}

/**
 * `(rows, n, mode, o, ro, s, rs, cs)`: `o[r][c] = s[r + c·cs]` for 4-byte
 * elements whose source rows are adjacent (`rs` = 4): a transpose, done in
 * 4 × 4 blocks of four loads, eight shuffles and four stores.
 */
export function transpose4(): Fn {
  const f = new Fn(Array(8).fill("i32"), []);
  const [rows, n, , o, ro, s, , cs] = [0, 1, 2, 3, 4, 5, 6, 7];
  const r = f.local("i32"), c = f.local("i32"), r4 = f.local("i32");
  const n4 = f.local("i32"), src = f.local("i32"), dst = f.local("i32");
  const rr = f.local("i32");
  const v = [0, 1, 2, 3].map(() => f.local("v128"));
  const t = [0, 1, 2, 3].map(() => f.local("v128"));
  const scalar = (row: Local) => {
    f.get(o).get(row).get(ro).op("i32.mul").op("i32.add").get(c).i32(2)
      .op("i32.shl").op("i32.add");
    f.get(s).get(row).i32(2).op("i32.shl").op("i32.add").get(c).get(cs)
      .op("i32.mul").op("i32.add").mem("i32.load").mem("i32.store");
  };
  f.get(rows).i32(-4).op("i32.and").set(r4);
  f.get(n).i32(-4).op("i32.and").set(n4);
  f.for(r, () => f.i32(0), () => f.get(r4), 4, () => {
    f.for(c, () => f.i32(0), () => f.get(n4), 4, () => {
      f.get(s).get(r).i32(2).op("i32.shl").op("i32.add").get(c).get(cs)
        .op("i32.mul").op("i32.add").set(src);
      for (let j = 0; j < 4; j++) {
        f.get(src).mem("v128.load").set(v[j]!);
        f.inc(src, cs, true);
      }
      const sh = (a: Local, b: Local, ls: number[], out: Local) =>
        f.get(a).get(b).shuffle(lanes(ls)).set(out);
      sh(v[0]!, v[1]!, [0, 4, 1, 5], t[0]!);
      sh(v[2]!, v[3]!, [0, 4, 1, 5], t[1]!);
      sh(v[0]!, v[1]!, [2, 6, 3, 7], t[2]!);
      sh(v[2]!, v[3]!, [2, 6, 3, 7], t[3]!);
      f.get(o).get(r).get(ro).op("i32.mul").op("i32.add").get(c).i32(2)
        .op("i32.shl").op("i32.add").set(dst);
      const rowsOut: [Local, Local, number[]][] = [
        [t[0]!, t[1]!, [0, 1, 4, 5]],
        [t[0]!, t[1]!, [2, 3, 6, 7]],
        [t[2]!, t[3]!, [0, 1, 4, 5]],
        [t[2]!, t[3]!, [2, 3, 6, 7]],
      ];
      for (const [a, b, ls] of rowsOut) {
        f.get(dst).get(a).get(b).shuffle(lanes(ls)).mem("v128.store");
        f.inc(dst, ro, true);
      }
    });
    f.for(rr, () => f.get(r), () => f.get(r).i32(4).op("i32.add"), 1, () => {
      f.for(c, () => f.get(n4), () => f.get(n), 1, () => scalar(rr));
    });
  });
  f.for(r, () => f.get(r4), () => f.get(rows), 1, () => {
    f.for(c, () => f.i32(0), () => f.get(n), 1, () => scalar(r));
  });
  return f;
}

/**
 * `gather4(o, x, idx, outer, n, m, inner)`: `o[a, j, :] = x[a, idx[j], :]`
 * for 4-byte elements; a negative index counts from the end, then clamps.
 */
export function gather4(): Fn {
  const f = new Fn(Array(7).fill("i32"), []);
  const [o, x, idx, outer, n, m, inner] = [0, 1, 2, 3, 4, 5, 6];
  const a = f.local("i32"), j = f.local("i32"), k = f.local("i32");
  const row = f.local("i32");
  f.get(inner).i32(2).op("i32.shl").set(row);
  f.for(a, () => f.i32(0), () => f.get(outer), 1, () => {
    f.for(j, () => f.i32(0), () => f.get(m), 1, () => {
      f.get(idx).get(j).i32(2).op("i32.shl").op("i32.add").mem("i32.load")
        .set(k);
      f.get(k).i32(0).op("i32.lt_s").if(() => f.inc(k, n, true));
      f.get(k).i32(0).op("i32.lt_s").if(() => f.i32(0).set(k));
      f.get(k).get(n).op("i32.ge_s").if(() =>
        f.get(n).i32(1).op("i32.sub").set(k)
      );
      f.get(o).get(a).get(m).op("i32.mul").get(j).op("i32.add").get(row)
        .op("i32.mul").op("i32.add");
      f.get(x).get(a).get(n).op("i32.mul").get(k).op("i32.add").get(row)
        .op("i32.mul").op("i32.add");
      f.get(row).memoryCopy();
    });
  });
  return f;
}

/** Kinds of float32 reduction. */
export type ReduceKind = "sum" | "max" | "min";

const SWAP = [8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7];

/**
 * `(rows, n, mode, o, ro, x, rx)`: `o[r] = reduce(x[r][0..n))`. Sums
 * accumulate in float64 (two f64x2 accumulators), as the CPU reference
 * does; max and min propagate NaN.
 */
export function reduceRows(kind: ReduceKind): Fn {
  const f = new Fn(Array(7).fill("i32"), []);
  const [rows, n, , o, ro, x, rx] = [0, 1, 2, 3, 4, 5, 6];
  const r = f.local("i32"), i = f.local("i32"), n8 = f.local("i32");
  const p = f.local("i32");
  const acc0 = f.local("v128"), acc1 = f.local("v128"), v = f.local("v128");
  const s = f.local("f64"), t = f.local("f32");
  const isSum = kind === "sum";
  const vop: SimdOp = kind === "max" ? "f32x4.max" : "f32x4.min";
  const sop: PlainOp = kind === "max" ? "f32.max" : "f32.min";
  const addF64 = (acc: Local, swap: boolean) => {
    f.get(acc).get(v);
    if (swap) f.get(v).shuffle(SWAP);
    f.simd("f64x2.promote_low_f32x4").simd("f64x2.add").set(acc);
  };
  f.get(n).i32(-8).op("i32.and").set(n8);
  f.for(r, () => f.i32(0), () => f.get(rows), 1, () => {
    f.get(x).get(r).get(rx).op("i32.mul").op("i32.add").set(p);
    if (isSum) f.f32x4(0).tee(acc0).set(acc1);
    else f.get(p).mem("v128.load32_splat").tee(acc0).set(acc1);
    f.for(i, () => f.i32(0), () => f.get(n8), 8, () => {
      for (const off of [0, 16]) {
        f.get(p).get(i).i32(2).op("i32.shl").op("i32.add")
          .mem("v128.load", off).set(v);
        if (isSum) {
          addF64(acc0, false);
          addF64(acc1, true);
        } else {
          const acc = off === 0 ? acc0 : acc1;
          f.get(acc).get(v).simd(vop).set(acc);
        }
      }
    });
    f.get(o).get(r).get(ro).op("i32.mul").op("i32.add");
    if (isSum) {
      f.get(acc0).get(acc1).simd("f64x2.add").tee(acc0)
        .simd("f64x2.extract_lane", 0).get(acc0)
        .simd("f64x2.extract_lane", 1).op("f64.add").set(s);
      f.for(i, () => f.get(n8), () => f.get(n), 1, () => {
        f.get(s).get(p).get(i).i32(2).op("i32.shl").op("i32.add")
          .mem("f32.load").op("f64.promote_f32").op("f64.add").set(s);
      });
      f.get(s).op("f32.demote_f64");
    } else {
      f.get(acc0).get(acc1).simd(vop).set(acc0);
      f.get(acc0).simd("f32x4.extract_lane", 0);
      for (let lane = 1; lane < 4; lane++) {
        f.get(acc0).simd("f32x4.extract_lane", lane).op(sop);
      }
      f.set(t);
      f.for(i, () => f.get(n8), () => f.get(n), 1, () => {
        f.get(t).get(p).get(i).i32(2).op("i32.shl").op("i32.add")
          .mem("f32.load").op(sop).set(t);
      });
      f.get(t);
    }
    f.mem("f32.store");
  });
  return f;
}

/**
 * `(rows, n, mode, o, ro, x, rx)`: `o[j] = reduce over r of x[r][j]` for
 * j < n (the leading axis reduced). Sums accumulate in float64.
 */
export function reduceCols(kind: ReduceKind): Fn {
  const f = new Fn(Array(7).fill("i32"), []);
  const [rows, n, , o, , x, rx] = [0, 1, 2, 3, 4, 5, 6];
  const j = f.local("i32"), r = f.local("i32"), n4 = f.local("i32");
  const p = f.local("i32");
  const acc0 = f.local("v128"), acc1 = f.local("v128"), v = f.local("v128");
  const s = f.local("f64"), t = f.local("f32");
  const isSum = kind === "sum";
  const vop: SimdOp = kind === "max" ? "f32x4.max" : "f32x4.min";
  const sop: PlainOp = kind === "max" ? "f32.max" : "f32.min";
  const dst = () => f.get(o).get(j).i32(2).op("i32.shl").op("i32.add");
  f.get(n).i32(-4).op("i32.and").set(n4);
  f.for(j, () => f.i32(0), () => f.get(n4), 4, () => {
    f.get(x).get(j).i32(2).op("i32.shl").op("i32.add").set(p);
    if (isSum) f.f32x4(0).tee(acc0).set(acc1);
    else f.get(p).mem("v128.load").set(acc0);
    f.for(r, () => f.i32(0), () => f.get(rows), 1, () => {
      f.get(p).mem("v128.load").set(v);
      if (isSum) {
        f.get(acc0).get(v).simd("f64x2.promote_low_f32x4").simd("f64x2.add")
          .set(acc0);
        f.get(acc1).get(v).get(v).shuffle(SWAP)
          .simd("f64x2.promote_low_f32x4").simd("f64x2.add").set(acc1);
      } else {
        f.get(acc0).get(v).simd(vop).set(acc0);
      }
      f.inc(p, rx, true);
    });
    if (isSum) {
      // Lanes 0,1 are in acc0 and lanes 2,3 in acc1; demote and store each.
      for (let lane = 0; lane < 4; lane++) {
        dst();
        f.get(lane < 2 ? acc0 : acc1).simd("f64x2.extract_lane", lane % 2)
          .op("f32.demote_f64").mem("f32.store", lane * 4);
      }
    } else {
      dst().get(acc0).mem("v128.store");
    }
  });
  f.for(j, () => f.get(n4), () => f.get(n), 1, () => {
    f.get(x).get(j).i32(2).op("i32.shl").op("i32.add").set(p);
    if (isSum) f.f32(0).op("f64.promote_f32").set(s);
    else f.get(p).mem("f32.load").set(t);
    f.for(r, () => f.i32(0), () => f.get(rows), 1, () => {
      if (isSum) {
        f.get(s).get(p).mem("f32.load").op("f64.promote_f32").op("f64.add")
          .set(s);
      } else {
        f.get(t).get(p).mem("f32.load").op(sop).set(t);
      }
      f.inc(p, rx, true);
    });
    dst();
    if (isSum) f.get(s).op("f32.demote_f64");
    else f.get(t);
    f.mem("f32.store");
  });
  return f;
}
