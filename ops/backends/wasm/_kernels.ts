/**
 * The wasm backend's elementwise kernels, written against the assembler in
 * `_asm.ts`: unary maths, broadcasting binary ops, comparisons, logic,
 * `select` and dtype conversions. Pointers are byte addresses in the shared
 * memory. Loops run four float32 lanes (or sixteen bool bytes) at a time
 * with 128-bit SIMD; tails are scalar or a partial vector.
 *
 * Every kernel here is one run: `(n, mode, out, in0, in1, ...)`, where bit
 * k of `mode` says input k repeats one element (a broadcast) instead of
 * advancing. `_grid.ts` wraps each run kernel in a loop over rows.
 *
 * @module
 */

import { Fn, type Local, type PlainOp, type SimdOp } from "./_asm.ts";
import * as M from "./_math.ts";

/** Unary float32 kernels and their vector bodies. */
export const UNARY_F32: Record<string, M.VecBody> = {
  neg: (f, x) => f.get(x).simd("f32x4.neg"),
  abs: (f, x) => f.get(x).simd("f32x4.abs"),
  sqrt: (f, x) => f.get(x).simd("f32x4.sqrt"),
  exp: M.expBody,
  log: M.logBody,
  log1p: M.log1pBody,
  tanh: M.tanhBody,
  logistic: M.logisticBody,
  rsqrt: M.rsqrtBody,
  sign: M.signBody,
};

/** Lane-wise conversions between float32 and int32 (float → int saturates, NaN → 0). */
export const CONVERT_4: Record<string, M.VecBody> = {
  f32_i32: (f, x) => f.get(x).simd("i32x4.trunc_sat_f32x4_s"),
  i32_f32: (f, x) => f.get(x).simd("f32x4.convert_i32x4_s"),
  neg_i32: (f, x) => f.get(x).simd("i32x4.neg"),
};

/** Binary ops: SIMD and scalar forms, and whether they are int32. */
export const BINARY = {
  add_f32: ["f32x4.add", "f32.add", false],
  sub_f32: ["f32x4.sub", "f32.sub", false],
  mul_f32: ["f32x4.mul", "f32.mul", false],
  div_f32: ["f32x4.div", "f32.div", false],
  max_f32: ["f32x4.max", "f32.max", false],
  min_f32: ["f32x4.min", "f32.min", false],
  add_i32: ["i32x4.add", "i32.add", true],
  sub_i32: ["i32x4.sub", "i32.sub", true],
  mul_i32: ["i32x4.mul", "i32.mul", true],
} as const satisfies Record<string, readonly [SimdOp, PlainOp, boolean]>;

/** Comparisons to bool: SIMD and scalar forms per dtype. */
export const COMPARE = {
  eq: [["f32x4.eq", "f32.eq"], ["i32x4.eq", "i32.eq"]],
  ne: [["f32x4.ne", "f32.ne"], ["i32x4.ne", "i32.ne"]],
  lt: [["f32x4.lt", "f32.lt"], ["i32x4.lt_s", "i32.lt_s"]],
  le: [["f32x4.le", "f32.le"], ["i32x4.le_s", "i32.le_s"]],
  gt: [["f32x4.gt", "f32.gt"], ["i32x4.gt_s", "i32.gt_s"]],
  ge: [["f32x4.ge", "f32.ge"], ["i32x4.ge_s", "i32.ge_s"]],
} as const satisfies Record<
  string,
  readonly [readonly [SimdOp, PlainOp], readonly [SimdOp, PlainOp]]
>;

/** `p + (i << shift)`, pushed. */
function at(f: Fn, p: Local, i: Local, shift: number): Fn {
  f.get(p).get(i);
  if (shift) f.i32(shift).op("i32.shl");
  return f.op("i32.add");
}

/**
 * Emits one loop per combination of repeated inputs: `variant(splat)` is
 * called with `splat[k]` true when bit k of `mode` is set.
 */
function byMode(
  f: Fn,
  mode: Local,
  inputs: number,
  variant: (splat: boolean[]) => void,
): void {
  const go = (k: number, splat: boolean[]) => {
    if (k === inputs) return variant(splat);
    f.get(mode).i32(1 << k).op("i32.and").if(
      () => go(k + 1, [...splat, true]),
      () => go(k + 1, [...splat, false]),
    );
  };
  go(0, []);
}

/** `(n, mode, o, x)`: 4-byte lanes through `body`; the tail is a partial vector. */
export function map4(body: M.VecBody): Fn {
  const f = new Fn(["i32", "i32", "i32", "i32"], []);
  const [n, o, x] = [0, 2, 3];
  const i = f.local("i32"), n4 = f.local("i32"), v = f.local("v128");
  const r = f.local("v128"), n8 = f.local("i32"), v2 = f.local("v128");
  f.get(n).i32(-4).op("i32.and").set(n4);
  f.get(n).i32(-8).op("i32.and").set(n8);
  // Two independent vectors per iteration, for instruction-level parallelism.
  f.for(i, () => f.i32(0), () => f.get(n8), 8, () => {
    at(f, x, i, 2).mem("v128.load").set(v);
    at(f, x, i, 2).mem("v128.load", 16).set(v2);
    body(f, v);
    f.set(r);
    at(f, o, i, 2);
    body(f, v2);
    f.mem("v128.store", 16);
    at(f, o, i, 2).get(r).mem("v128.store");
  });
  f.for(i, () => f.get(n8), () => f.get(n4), 4, () => {
    at(f, x, i, 2).mem("v128.load").set(v);
    at(f, o, i, 2);
    body(f, v);
    f.mem("v128.store");
  });
  f.get(n4).get(n).op("i32.lt_s").if(() => {
    f.i32x4(0).set(v);
    for (let lane = 0; lane < 3; lane++) {
      f.get(n4).i32(lane).op("i32.add").get(n).op("i32.lt_s").if(() => {
        at(f, x, n4, 2).get(v).loadLane(lane, lane * 4).set(v);
      });
    }
    body(f, v);
    f.set(r);
    for (let lane = 0; lane < 3; lane++) {
      f.get(n4).i32(lane).op("i32.add").get(n).op("i32.lt_s").if(() => {
        at(f, o, n4, 2).get(r).storeLane(lane, lane * 4);
      });
    }
  });
  return f;
}

/** `(n, mode, o, a, b)`: `o[i] = a[i] ⊕ b[i]` on 4-byte lanes. */
export function binary(simd: SimdOp, scalar: PlainOp, isInt: boolean): Fn {
  const f = new Fn(Array(5).fill("i32"), []);
  const [n, mode, o, a, b] = [0, 1, 2, 3, 4];
  const i = f.local("i32"), n4 = f.local("i32");
  const va = f.local("v128"), vb = f.local("v128");
  const load = isInt ? "i32.load" : "f32.load";
  const store = isInt ? "i32.store" : "f32.store";
  f.get(n).i32(-4).op("i32.and").set(n4);
  byMode(f, mode, 2, ([sa, sb]) => {
    if (sa) f.get(a).mem("v128.load32_splat").set(va);
    if (sb) f.get(b).mem("v128.load32_splat").set(vb);
    f.for(i, () => f.i32(0), () => f.get(n4), 4, () => {
      at(f, o, i, 2);
      if (sa) f.get(va);
      else at(f, a, i, 2).mem("v128.load");
      if (sb) f.get(vb);
      else at(f, b, i, 2).mem("v128.load");
      f.simd(simd).mem("v128.store");
    });
    f.for(i, () => f.get(n4), () => f.get(n), 1, () => {
      at(f, o, i, 2);
      (sa ? f.get(a) : at(f, a, i, 2)).mem(load);
      (sb ? f.get(b) : at(f, b, i, 2)).mem(load);
      f.op(scalar).mem(store);
    });
  });
  return f;
}

/** Narrows four lane masks (in `m`) to 16 bool bytes (0/1), pushed. */
function narrowMasks(f: Fn, m: readonly Local[]): void {
  f.get(m[0]!).get(m[1]!).simd("i16x8.narrow_i32x4_s");
  f.get(m[2]!).get(m[3]!).simd("i16x8.narrow_i32x4_s");
  f.simd("i8x16.narrow_i16x8_s").simd("i8x16.abs");
}

/** `(n, mode, o, a, b)`: `o[i] = a[i] ⋄ b[i]` as bool bytes. */
export function compare(simd: SimdOp, scalar: PlainOp, isInt: boolean): Fn {
  const f = new Fn(Array(5).fill("i32"), []);
  const [n, mode, o, a, b] = [0, 1, 2, 3, 4];
  const i = f.local("i32"), n16 = f.local("i32");
  const va = f.local("v128"), vb = f.local("v128");
  const m = [0, 1, 2, 3].map(() => f.local("v128"));
  const load = isInt ? "i32.load" : "f32.load";
  f.get(n).i32(-16).op("i32.and").set(n16);
  byMode(f, mode, 2, ([sa, sb]) => {
    if (sa) f.get(a).mem("v128.load32_splat").set(va);
    if (sb) f.get(b).mem("v128.load32_splat").set(vb);
    f.for(i, () => f.i32(0), () => f.get(n16), 16, () => {
      for (let q = 0; q < 4; q++) {
        if (sa) f.get(va);
        else at(f, a, i, 2).mem("v128.load", q * 16);
        if (sb) f.get(vb);
        else at(f, b, i, 2).mem("v128.load", q * 16);
        f.simd(simd).set(m[q]!);
      }
      at(f, o, i, 0);
      narrowMasks(f, m);
      f.mem("v128.store");
    });
    f.for(i, () => f.get(n16), () => f.get(n), 1, () => {
      at(f, o, i, 0);
      (sa ? f.get(a) : at(f, a, i, 2)).mem(load);
      (sb ? f.get(b) : at(f, b, i, 2)).mem(load);
      f.op(scalar).mem("i32.store8");
    });
  });
  return f;
}

/** `(n, mode, o, x)`: 4-byte lanes to bool bytes, `x != 0` (NaN → true). */
export function toBool(isInt: boolean): Fn {
  const f = new Fn(Array(4).fill("i32"), []);
  const [n, o, x] = [0, 2, 3];
  const i = f.local("i32"), n16 = f.local("i32");
  const m = [0, 1, 2, 3].map(() => f.local("v128"));
  f.get(n).i32(-16).op("i32.and").set(n16);
  f.for(i, () => f.i32(0), () => f.get(n16), 16, () => {
    for (let q = 0; q < 4; q++) {
      at(f, x, i, 2).mem("v128.load", q * 16);
      if (isInt) f.i32x4(0).simd("i32x4.ne");
      else f.f32x4(0).simd("f32x4.ne");
      f.set(m[q]!);
    }
    at(f, o, i, 0);
    narrowMasks(f, m);
    f.mem("v128.store");
  });
  f.for(i, () => f.get(n16), () => f.get(n), 1, () => {
    at(f, o, i, 0);
    at(f, x, i, 2);
    if (isInt) f.mem("i32.load").i32(0).op("i32.ne");
    else f.mem("f32.load").f32(0).op("f32.ne");
    f.mem("i32.store8");
  });
  return f;
}

/** `(n, mode, o, x)`: bool bytes to int32 or float32 0/1 (the byte's value). */
export function fromBool(isFloat: boolean): Fn {
  const f = new Fn(Array(4).fill("i32"), []);
  const [n, o, x] = [0, 2, 3];
  const i = f.local("i32"), n16 = f.local("i32"), v = f.local("v128");
  const h = f.local("v128");
  f.get(n).i32(-16).op("i32.and").set(n16);
  f.for(i, () => f.i32(0), () => f.get(n16), 16, () => {
    at(f, x, i, 0).mem("v128.load").set(v);
    for (let q = 0; q < 4; q++) {
      if (q % 2 === 0) {
        f.get(v).simd(
          q === 0 ? "i16x8.extend_low_i8x16_u" : "i16x8.extend_high_i8x16_u",
        ).set(h);
      }
      at(f, o, i, 2);
      f.get(h).simd(
        q % 2 === 0 ? "i32x4.extend_low_i16x8_u" : "i32x4.extend_high_i16x8_u",
      );
      if (isFloat) f.simd("f32x4.convert_i32x4_s");
      f.mem("v128.store", q * 16);
    }
  });
  f.for(i, () => f.get(n16), () => f.get(n), 1, () => {
    at(f, o, i, 2);
    at(f, x, i, 0).mem("i32.load8_u");
    if (isFloat) f.op("f32.convert_i32_s").mem("f32.store");
    else f.mem("i32.store");
  });
  return f;
}

/** `(n, mode, o, a, b)` on bool bytes: `and`/`or` of `a != 0`, `b != 0`; `not` of `a`. */
export function logic(kind: "and" | "or" | "not"): Fn {
  const inputs = kind === "not" ? 1 : 2;
  const f = new Fn(Array(3 + inputs).fill("i32"), []);
  const [n, mode, o, a, b] = [0, 1, 2, 3, 4];
  const i = f.local("i32"), n16 = f.local("i32");
  const va = f.local("v128"), vb = f.local("v128");
  const nz = () => f.i32x4(0).simd("i8x16.ne"); // 0 / -1 per byte
  f.get(n).i32(-16).op("i32.and").set(n16);
  byMode(f, mode, inputs, ([sa, sb]) => {
    if (sa) f.get(a).mem("v128.load8_splat").set(va);
    if (sb) f.get(b).mem("v128.load8_splat").set(vb);
    const load = (p: Local, splat: boolean | undefined, v: Local) =>
      splat ? f.get(v) : at(f, p, i, 0).mem("v128.load");
    f.for(i, () => f.i32(0), () => f.get(n16), 16, () => {
      at(f, o, i, 0);
      load(a, sa, va);
      if (kind === "not") f.i32x4(0).simd("i8x16.eq");
      else {
        nz();
        load(b, sb, vb);
        nz();
        f.simd(kind === "and" ? "v128.and" : "v128.or");
      }
      f.simd("i8x16.abs").mem("v128.store");
    });
    f.for(i, () => f.get(n16), () => f.get(n), 1, () => {
      at(f, o, i, 0);
      (sa ? f.get(a) : at(f, a, i, 0)).mem("i32.load8_u");
      if (kind === "not") f.op("i32.eqz");
      else {
        f.i32(0).op("i32.ne");
        (sb ? f.get(b) : at(f, b, i, 0)).mem("i32.load8_u").i32(0)
          .op("i32.ne").op(kind === "and" ? "i32.and" : "i32.or");
      }
      f.mem("i32.store8");
    });
  });
  return f;
}

/** `(n, mode, o, c, t, e)`: `o[i] = c[i] ? t[i] : e[i]`, c bool bytes, t/e 4 bytes. */
export function select4(): Fn {
  const f = new Fn(Array(6).fill("i32"), []);
  const [n, mode, o, c, t, e] = [0, 1, 2, 3, 4, 5];
  const i = f.local("i32"), n16 = f.local("i32");
  const vt = f.local("v128"), ve = f.local("v128"), z = f.local("v128");
  const h = f.local("v128");
  f.get(n).i32(-16).op("i32.and").set(n16);
  byMode(f, mode, 3, ([sc, st, se]) => {
    if (st) f.get(t).mem("v128.load32_splat").set(vt);
    if (se) f.get(e).mem("v128.load32_splat").set(ve);
    if (sc) f.get(c).mem("v128.load8_splat").i32x4(0).simd("i8x16.eq").set(z);
    f.for(i, () => f.i32(0), () => f.get(n16), 16, () => {
      // z: 0xff where the predicate is false.
      if (!sc) at(f, c, i, 0).mem("v128.load").i32x4(0).simd("i8x16.eq").set(z);
      for (let q = 0; q < 4; q++) {
        if (q % 2 === 0) {
          f.get(z).simd(
            q === 0 ? "i16x8.extend_low_i8x16_s" : "i16x8.extend_high_i8x16_s",
          ).set(h);
        }
        at(f, o, i, 2);
        if (se) f.get(ve);
        else at(f, e, i, 2).mem("v128.load", q * 16);
        if (st) f.get(vt);
        else at(f, t, i, 2).mem("v128.load", q * 16);
        f.get(h).simd(
          q % 2 === 0
            ? "i32x4.extend_low_i16x8_s"
            : "i32x4.extend_high_i16x8_s",
        );
        f.simd("v128.bitselect").mem("v128.store", q * 16);
      }
    });
    f.for(i, () => f.get(n16), () => f.get(n), 1, () => {
      at(f, o, i, 2);
      (st ? f.get(t) : at(f, t, i, 2)).mem("i32.load");
      (se ? f.get(e) : at(f, e, i, 2)).mem("i32.load");
      (sc ? f.get(c) : at(f, c, i, 0)).mem("i32.load8_u");
      f.op("select").mem("i32.store");
    });
  });
  return f;
}
