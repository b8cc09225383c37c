/**
 * Transcendental functions on four float32 lanes, emitted as 128-bit SIMD.
 * Each body reads a v128 local and leaves its result on the stack. The
 * approximations are Cephes' single-precision ones (Moshier): range
 * reduction, then a minimax polynomial, then special values (±0, ±∞, NaN,
 * overflow, underflow to subnormals) patched in with `bitselect`, so each
 * lane agrees with the CPU reference (`Math.exp` rounded to float32, ...)
 * to within a few float32 ulps. Plain multiply and add are used (no fused
 * multiply-add), so results do not depend on the engine.
 *
 * @module
 */

import type { Fn, Local } from "./_asm.ts";

/** A SIMD function body: reads `x`, leaves the result v128 on the stack. */
export type VecBody = (f: Fn, x: Local) => void;

const SIGN = 0x80000000 | 0;

/** Pushes `c[0]·x^(k-1) + ... + c[k-1]` by Horner's rule. */
function horner(f: Fn, x: Local, cs: readonly number[]): void {
  f.f32x4(cs[0]!);
  for (const c of cs.slice(1)) {
    f.get(x).simd("f32x4.mul").f32x4(c).simd("f32x4.add");
  }
}

/**
 * e^x. x = n·ln2 + r with |r| ≤ ln2/2 (ln2 split in two, Cody and Waite),
 * e^r by a degree-6 polynomial, then 2^n applied as two factors
 * 2^(n>>1)·2^(n-(n>>1)) so that results down to the subnormals round once.
 * Inputs are clamped to [-104, 89] (beyond them e^x is 0 or ∞ in float32;
 * `pmin`/`pmax` keep NaN), and n is rounded by adding 1.5·2^23, whose low
 * mantissa bits are then n itself.
 */
export const expBody: VecBody = (f, x) => expVec(f, x, {});

/** How {@link expVec} computes: the plain form is {@link expBody}. */
export interface ExpForm {
  /** Fuses each multiply-add with `f32x4.relaxed_madd` (engine-dependent rounding). */
  readonly madd?: boolean;
  /**
   * Results below 2^-126 (x < ln 2^-126) become 0: no subnormal reaches
   * later arithmetic, where x86 runs it tens of times slower.
   */
  readonly flush?: boolean;
}

/** e^x of v128 local `x` as {@link expBody} computes it, in the form `form` asks. */
export function expVec(f: Fn, x: Local, form: ExpForm): void {
  const r = f.local("v128"), n = f.local("v128"), p = f.local("v128");
  const ni = f.local("v128");
  const MAGIC = 12582912; // 1.5·2^23
  /** Pushes a·b + c: one relaxed multiply-add, or a multiply then an add. */
  const mulAdd = (a: () => void, b: () => void, c: () => void) => {
    a();
    b();
    if (form.madd) {
      c();
      f.simd("f32x4.relaxed_madd");
    } else {
      f.simd("f32x4.mul");
      c();
      f.simd("f32x4.add");
    }
  };
  const k = (v: number) => () => f.f32x4(v);
  const get = (l: Local) => () => f.get(l);
  f.get(x).f32x4(-104).simd("f32x4.pmax").f32x4(89).simd("f32x4.pmin").set(r);
  mulAdd(get(r), k(Math.LOG2E), k(MAGIC));
  f.tee(n).i32x4(0x4b400000).simd("i32x4.sub").set(ni);
  f.get(n).f32x4(MAGIC).simd("f32x4.sub").set(n);
  // r − n·ln2, ln2 in two parts (negated constants: the same roundings)
  mulAdd(get(n), k(-0.693359375), get(r));
  f.set(r);
  mulAdd(get(n), k(2.12194440e-4), get(r));
  f.set(r);
  const cs = [
    1.9875691500e-4,
    1.3981999507e-3,
    8.3334519073e-3,
    4.1665795894e-2,
    1.6666665459e-1,
    5.0000001201e-1,
  ];
  f.f32x4(cs[0]!).set(p);
  for (const c of cs.slice(1)) {
    mulAdd(get(p), get(r), k(c));
    f.set(p);
  }
  // r²·P(r) + r + 1
  mulAdd(() => f.get(r).get(r).simd("f32x4.mul"), get(p), get(r));
  f.f32x4(1).simd("f32x4.add").set(p);
  const pow2 = () =>
    f.i32x4(127).simd("i32x4.add").i32(23).simd("i32x4.shl")
      .simd("f32x4.mul");
  f.get(p).get(ni).i32(1).simd("i32x4.shr_s");
  pow2();
  f.get(ni).get(ni).i32(1).simd("i32x4.shr_s").simd("i32x4.sub");
  pow2();
  if (form.flush) {
    // e^x < 2^-126 exactly when x < ln 2^-126 = −87.336544…
    f.get(x).f32x4(-87.33654).simd("f32x4.lt").simd("v128.andnot");
  }
}

/**
 * ln x. x = m·2^e with m in [√½, √2), ln(m) = t - t²/2 + t³·P(t) for
 * t = m - 1, and e·ln2 added in two parts. Subnormal inputs are scaled by
 * 2^23 first. ln 0 = -∞, ln ∞ = ∞, ln of a negative or NaN is NaN.
 */
export const logBody: VecBody = (f, x) => {
  const xs = f.local("v128"), e = f.local("v128"), m = f.local("v128");
  const z = f.local("v128"), small = f.local("v128"), lo = f.local("v128");
  f.get(x).f32x4(1.17549435e-38).simd("f32x4.lt").set(small);
  f.get(x).f32x4(8388608).simd("f32x4.mul").get(x).get(small)
    .simd("v128.bitselect").set(xs);
  f.get(xs).i32(23).simd("i32x4.shr_u").i32x4(126).simd("i32x4.sub")
    .get(small).i32x4(23).simd("v128.and").simd("i32x4.sub").set(e);
  f.get(xs).i32x4(0x807fffff).simd("v128.and").i32x4(0x3f000000)
    .simd("v128.or").set(m);
  // m < √½: e -= 1 and t = 2m - 1; else t = m - 1 (both exact).
  f.get(m).f32x4(Math.SQRT1_2).simd("f32x4.lt").set(lo);
  f.get(e).get(lo).simd("i32x4.add").simd("f32x4.convert_i32x4_s").set(e);
  f.get(m).get(m).get(lo).simd("v128.and").simd("f32x4.add").f32x4(1)
    .simd("f32x4.sub").set(m);
  f.get(m).get(m).simd("f32x4.mul").set(z);
  horner(f, m, [
    7.0376836292e-2,
    -1.1514610310e-1,
    1.1676998740e-1,
    -1.2420140846e-1,
    1.4249322787e-1,
    -1.6668057665e-1,
    2.0000714765e-1,
    -2.4999993993e-1,
    3.3333331174e-1,
  ]);
  f.get(m).simd("f32x4.mul").get(z).simd("f32x4.mul")
    .get(e).f32x4(-2.12194440e-4).simd("f32x4.mul").simd("f32x4.add")
    .get(z).f32x4(0.5).simd("f32x4.mul").simd("f32x4.sub")
    .get(m).simd("f32x4.add")
    .get(e).f32x4(0.693359375).simd("f32x4.mul").simd("f32x4.add").set(z);
  // Special values: -∞ at ±0, ∞ at ∞, NaN below 0 and at NaN.
  f.f32x4(-Infinity).get(z).get(x).f32x4(0).simd("f32x4.eq")
    .simd("v128.bitselect").set(z);
  f.f32x4(Infinity).get(z).get(x).f32x4(Infinity).simd("f32x4.eq")
    .simd("v128.bitselect").set(z);
  f.get(z).f32x4(NaN).get(x).f32x4(0).simd("f32x4.ge").simd("v128.bitselect");
};

/**
 * ln(1 + x) = ln(u)·x/(u - 1) with u = 1 + x rounded (Goldberg's trick:
 * the quotient corrects the rounding of u); x itself where u = 1.
 */
export const log1pBody: VecBody = (f, x) => {
  const u = f.local("v128"), d = f.local("v128"), r = f.local("v128");
  f.get(x).f32x4(1).simd("f32x4.add").set(u);
  f.get(u).f32x4(1).simd("f32x4.sub").set(d);
  logBody(f, u);
  f.get(x).get(d).simd("f32x4.div").simd("f32x4.mul").set(r);
  f.get(x).get(r).get(d).f32x4(0).simd("f32x4.eq").simd("v128.bitselect");
  f.set(r).f32x4(Infinity).get(r).get(x).f32x4(Infinity).simd("f32x4.eq")
    .simd("v128.bitselect");
};

/**
 * tanh x: for |x| ≤ 0.625 the odd polynomial x + x³·P(x²); above,
 * 1 - 2/(e^(2|x|) + 1) with the sign of x (±1 once e^(2|x|) overflows);
 * ±0 passes through.
 */
export const tanhBody: VecBody = (f, x) => {
  const z = f.local("v128"), s = f.local("v128"), big = f.local("v128");
  f.get(x).simd("f32x4.abs").tee(z).get(z).simd("f32x4.add").set(s);
  f.f32x4(1).f32x4(2);
  expBody(f, s);
  f.f32x4(1).simd("f32x4.add").simd("f32x4.div").simd("f32x4.sub").set(big);
  f.get(x).get(big).i32x4(SIGN).simd("v128.bitselect").set(big);
  f.get(x).get(x).simd("f32x4.mul").set(s);
  f.get(big);
  horner(f, s, [
    -5.70498872745e-3,
    2.06390887954e-2,
    -5.37397155531e-2,
    1.33314422036e-1,
    -3.33332819422e-1,
  ]);
  f.get(s).simd("f32x4.mul").get(x).simd("f32x4.mul").get(x).simd("f32x4.add");
  f.get(z).f32x4(0.625).simd("f32x4.gt").simd("v128.bitselect");
  // tanh(-0) = -0 (the polynomial's sum would give +0).
  f.set(s).get(x).get(s).get(x).f32x4(0).simd("f32x4.eq")
    .simd("v128.bitselect");
};

/** 1/(1 + e^-x) as the CPU reference computes it: e^-|x| never overflows. */
export const logisticBody: VecBody = (f, x) => {
  const e = f.local("v128"), nx = f.local("v128");
  f.get(x).simd("f32x4.abs").simd("f32x4.neg").set(nx);
  expBody(f, nx);
  f.set(e);
  f.f32x4(1).get(e).get(x).f32x4(0).simd("f32x4.ge").simd("v128.bitselect");
  f.get(e).f32x4(1).simd("f32x4.add").simd("f32x4.div");
};

/** 1/√x (both steps correctly rounded in float32). */
export const rsqrtBody: VecBody = (f, x) => {
  f.f32x4(1).get(x).simd("f32x4.sqrt").simd("f32x4.div");
};

/** sign x: ±1, and x itself at ±0 and NaN (as `Math.sign`). */
export const signBody: VecBody = (f, x) => {
  f.get(x);
  f.get(x).f32x4(1).i32x4(SIGN).simd("v128.bitselect");
  f.get(x).f32x4(0).simd("f32x4.eq").get(x).get(x).simd("f32x4.ne")
    .simd("v128.or").simd("v128.bitselect");
};
