/**
 * The wasm backend's elementwise and reduction kernels, written against the
 * assembler in `_asm.ts`. Pointers are byte addresses in the shared memory.
 * Every loop runs four lanes at a time with 128-bit SIMD and finishes the
 * tail with scalar code.
 *
 * @module
 */

import {
  Fn,
  type Local,
  type ModuleBuilder,
  type PlainOp,
  type SimdOp,
} from "./_asm.ts";

/** Binary float32/int32 ops with a SIMD form. */
export const SIMD_BINARY = {
  add_f32: ["f32x4.add", "f32.add"],
  sub_f32: ["f32x4.sub", "f32.sub"],
  mul_f32: ["f32x4.mul", "f32.mul"],
  div_f32: ["f32x4.div", "f32.div"],
  max_f32: ["f32x4.max", "f32.max"],
  min_f32: ["f32x4.min", "f32.min"],
  add_i32: ["i32x4.add", "i32.add"],
  sub_i32: ["i32x4.sub", "i32.sub"],
  mul_i32: ["i32x4.mul", "i32.mul"],
} as const satisfies Record<string, readonly [SimdOp, PlainOp]>;

/** Unary float32 ops with a SIMD form. */
export const SIMD_UNARY = {
  neg_f32: ["f32x4.neg", "f32.neg"],
  abs_f32: ["f32x4.abs", "f32.abs"],
  sqrt_f32: ["f32x4.sqrt", "f32.sqrt"],
} as const satisfies Record<string, readonly [SimdOp, PlainOp]>;

/** Names of the binary kernels. */
export type BinaryKernel = keyof typeof SIMD_BINARY;
/** Names of the unary kernels. */
export type UnaryKernel = keyof typeof SIMD_UNARY;

/**
 * `bin_<op>(o, a, b, n, mode)`: `o[i] = a[i] ⊕ b[i]` for i < n. Mode 0: both
 * operands advance; 1: `b` is one repeated element; 2: `a` is.
 */
function binary(simd: SimdOp, scalar: PlainOp, isInt: boolean): Fn {
  const f = new Fn(["i32", "i32", "i32", "i32", "i32"], []);
  const [o, a, b, n, mode] = [0, 1, 2, 3, 4];
  const i = f.local("i32"), n4 = f.local("i32");
  const va = f.local("v128"), vb = f.local("v128");
  const load = isInt ? "i32.load" : "f32.load";
  const store = isInt ? "i32.store" : "f32.store";
  f.get(n).i32(-4).op("i32.and").set(n4);
  const variant = (sa: number, sb: number) => {
    if (sa === 0) f.get(a).mem("v128.load32_splat").set(va);
    if (sb === 0) f.get(b).mem("v128.load32_splat").set(vb);
    f.for(i, () => f.i32(0), () => f.get(n4), 4, () => {
      f.get(o).get(i).i32(2).op("i32.shl").op("i32.add");
      if (sa) {
        f.get(a).get(i).i32(2).op("i32.shl").op("i32.add").mem("v128.load");
      } else f.get(va);
      if (sb) {
        f.get(b).get(i).i32(2).op("i32.shl").op("i32.add").mem("v128.load");
      } else f.get(vb);
      f.simd(simd).mem("v128.store");
    });
    f.for(i, () => f.get(n4), () => f.get(n), 1, () => {
      f.get(o).get(i).i32(2).op("i32.shl").op("i32.add");
      f.get(a);
      if (sa) f.get(i).i32(2).op("i32.shl").op("i32.add");
      f.mem(load);
      f.get(b);
      if (sb) f.get(i).i32(2).op("i32.shl").op("i32.add");
      f.mem(load);
      f.op(scalar).mem(store);
    });
  };
  f.get(mode).op("i32.eqz").if(
    () => variant(1, 1),
    () =>
      f.get(mode).i32(1).op("i32.eq").if(
        () => variant(1, 0),
        () => variant(0, 1),
      ),
  );
  return f;
}

/** `un_<op>(o, x, n)`: `o[i] = op(x[i])`. */
function unary(simd: SimdOp, scalar: PlainOp): Fn {
  const f = new Fn(["i32", "i32", "i32"], []);
  const [o, x, n] = [0, 1, 2];
  const i = f.local("i32"), n4 = f.local("i32");
  f.get(n).i32(-4).op("i32.and").set(n4);
  const at = (p: Local) => f.get(p).get(i).i32(2).op("i32.shl").op("i32.add");
  f.for(i, () => f.i32(0), () => f.get(n4), 4, () => {
    at(o);
    at(x).mem("v128.load").simd(simd).mem("v128.store");
  });
  f.for(i, () => f.get(n4), () => f.get(n), 1, () => {
    at(o);
    at(x).mem("f32.load").op(scalar).mem("f32.store");
  });
  return f;
}

type ReduceKind = "sum" | "max" | "min";

/**
 * `rows_<kind>(o, x, rows, len)`: `o[r] = reduce(x[r*len .. r*len+len))`.
 * Sums accumulate in float64 (two f64x2 accumulators), as the CPU
 * reference does; max and min propagate NaN.
 */
function reduceRows(kind: ReduceKind): Fn {
  const f = new Fn(["i32", "i32", "i32", "i32"], []);
  const [o, x, rows, len] = [0, 1, 2, 3];
  const r = f.local("i32"), i = f.local("i32"), n4 = f.local("i32");
  const p = f.local("i32");
  const acc0 = f.local("v128"), acc1 = f.local("v128"), v = f.local("v128");
  const s = f.local("f64"), t = f.local("f32");
  const isSum = kind === "sum";
  const vop: SimdOp = kind === "max" ? "f32x4.max" : "f32x4.min";
  const sop: PlainOp = kind === "max" ? "f32.max" : "f32.min";
  f.get(len).i32(-4).op("i32.and").set(n4);
  f.for(r, () => f.i32(0), () => f.get(rows), 1, () => {
    // p = x + r*len*4
    f.get(x).get(r).get(len).op("i32.mul").i32(2).op("i32.shl")
      .op("i32.add").set(p);
    if (isSum) {
      f.f32(0).simd("f32x4.splat").tee(acc0).set(acc1);
    } else {
      f.get(p).mem("v128.load32_splat").tee(acc0).set(acc1);
    }
    f.for(i, () => f.i32(0), () => f.get(n4), 4, () => {
      f.get(p).get(i).i32(2).op("i32.shl").op("i32.add").mem("v128.load")
        .set(v);
      if (isSum) {
        f.get(acc0).get(v).simd("f64x2.promote_low_f32x4").simd("f64x2.add")
          .set(acc0);
        f.get(acc1).get(v).get(v)
          .shuffle([8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7])
          .simd("f64x2.promote_low_f32x4").simd("f64x2.add").set(acc1);
      } else {
        f.get(acc0).get(v).simd(vop).set(acc0);
      }
    });
    if (isSum) {
      f.get(acc0).get(acc1).simd("f64x2.add").tee(acc0)
        .simd("f64x2.extract_lane", 0).get(acc0).simd("f64x2.extract_lane", 1)
        .op("f64.add").set(s);
      f.for(i, () => f.get(n4), () => f.get(len), 1, () => {
        f.get(s).get(p).get(i).i32(2).op("i32.shl").op("i32.add")
          .mem("f32.load").op("f64.promote_f32").op("f64.add").set(s);
      });
      f.get(o).get(r).i32(2).op("i32.shl").op("i32.add").get(s)
        .op("f32.demote_f64").mem("f32.store");
    } else {
      f.get(acc0).simd("f32x4.extract_lane", 0).get(acc0)
        .simd("f32x4.extract_lane", 1).op(sop).get(acc0)
        .simd("f32x4.extract_lane", 2).op(sop).get(acc0)
        .simd("f32x4.extract_lane", 3).op(sop).set(t);
      f.for(i, () => f.get(n4), () => f.get(len), 1, () => {
        f.get(t).get(p).get(i).i32(2).op("i32.shl").op("i32.add")
          .mem("f32.load").op(sop).set(t);
      });
      f.get(o).get(r).i32(2).op("i32.shl").op("i32.add").get(t)
        .mem("f32.store");
    }
  });
  return f;
}

/**
 * `cols_<kind>(o, x, rows, len)`: `o[j] = reduce over r of x[r*len + j]`
 * (reducing the leading axis). Sums accumulate in float64.
 */
function reduceCols(kind: ReduceKind): Fn {
  const f = new Fn(["i32", "i32", "i32", "i32"], []);
  const [o, x, rows, len] = [0, 1, 2, 3];
  const j = f.local("i32"), r = f.local("i32"), n4 = f.local("i32");
  const p = f.local("i32"), stride = f.local("i32");
  const acc0 = f.local("v128"), acc1 = f.local("v128"), v = f.local("v128");
  const s = f.local("f64"), t = f.local("f32");
  const isSum = kind === "sum";
  const vop: SimdOp = kind === "max" ? "f32x4.max" : "f32x4.min";
  const sop: PlainOp = kind === "max" ? "f32.max" : "f32.min";
  f.get(len).i32(-4).op("i32.and").set(n4);
  f.get(len).i32(2).op("i32.shl").set(stride);
  f.for(j, () => f.i32(0), () => f.get(n4), 4, () => {
    f.get(x).get(j).i32(2).op("i32.shl").op("i32.add").set(p);
    if (isSum) f.f32(0).simd("f32x4.splat").tee(acc0).set(acc1);
    else f.get(p).mem("v128.load").set(acc0);
    f.for(r, () => f.i32(0), () => f.get(rows), 1, () => {
      f.get(p).mem("v128.load").set(v);
      if (isSum) {
        f.get(acc0).get(v).simd("f64x2.promote_low_f32x4").simd("f64x2.add")
          .set(acc0);
        f.get(acc1).get(v).get(v)
          .shuffle([8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7])
          .simd("f64x2.promote_low_f32x4").simd("f64x2.add").set(acc1);
      } else {
        f.get(acc0).get(v).simd(vop).set(acc0);
      }
      f.inc(p, stride, true);
    });
    const dst = () => f.get(o).get(j).i32(2).op("i32.shl").op("i32.add");
    if (isSum) {
      // Lanes 0,1 are in acc0 and lanes 2,3 in acc1; demote and store each.
      for (let lane = 0; lane < 4; lane++) {
        dst();
        f.get(lane < 2 ? acc0 : acc1).simd("f64x2.extract_lane", lane % 2)
          .op("f32.demote_f64").mem("f32.store", lane * 4);
      }
    } else {
      dst();
      f.get(acc0).mem("v128.store");
    }
  });
  f.for(j, () => f.get(n4), () => f.get(len), 1, () => {
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
      f.inc(p, stride, true);
    });
    f.get(o).get(j).i32(2).op("i32.shl").op("i32.add");
    if (isSum) f.get(s).op("f32.demote_f64");
    else f.get(t);
    f.mem("f32.store");
  });
  return f;
}

/** Adds the elementwise and reduction kernels to `m`, exported by name. */
export function addElementwise(m: ModuleBuilder): void {
  for (const [name, [simd, scalar]] of Object.entries(SIMD_BINARY)) {
    m.add(`bin_${name}`, binary(simd, scalar, name.endsWith("_i32")));
  }
  for (const [name, [simd, scalar]] of Object.entries(SIMD_UNARY)) {
    m.add(`un_${name}`, unary(simd, scalar));
  }
  for (const kind of ["sum", "max", "min"] as const) {
    m.add(`rows_${kind}`, reduceRows(kind));
    m.add(`cols_${kind}`, reduceCols(kind));
  }
}
