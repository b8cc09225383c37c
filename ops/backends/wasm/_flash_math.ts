/**
 * Scalar and lane helpers of flash kernels (`_flash_codegen.ts`): a SIMD
 * body applied to one f32, horizontal sums and maxima of four lanes, and
 * e^x with fused multiply-adds.
 *
 * @module
 */

import type { Fn, Local } from "./_asm.ts";
import type * as M from "./_math.ts";

/** a2 a3 a0 a1. */
const SWAP64 = [8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7];

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
/**
 * e^x of v128 local `x`, pushed: `_math.ts`'s `expBody` (the same
 * reduction, polynomial, clamping and 2^n scaling, so −∞ gives 0) with
 * its multiply-adds fused by `f32x4.relaxed_madd`.
 */
export function expMadd(f: Fn, x: Local): void {
  const r = f.local("v128"), n = f.local("v128"), p = f.local("v128");
  const ni = f.local("v128");
  const MAGIC = 12582912; // 1.5·2^23
  const madd = () => f.simd("f32x4.relaxed_madd");
  f.get(x).f32x4(-104).simd("f32x4.pmax").f32x4(89).simd("f32x4.pmin").set(r);
  f.get(r).f32x4(Math.LOG2E).f32x4(MAGIC);
  madd();
  f.tee(n).i32x4(0x4b400000).simd("i32x4.sub").set(ni);
  f.get(n).f32x4(MAGIC).simd("f32x4.sub").set(n);
  f.get(n).f32x4(-0.693359375).get(r);
  madd();
  f.set(r).get(n).f32x4(2.12194440e-4).get(r);
  madd();
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
    f.get(p).get(r).f32x4(c);
    madd();
    f.set(p);
  }
  f.get(r).get(r).simd("f32x4.mul").get(p).get(r);
  madd();
  f.f32x4(1).simd("f32x4.add").set(p);
  const pow2 = () =>
    f.i32x4(127).simd("i32x4.add").i32(23).simd("i32x4.shl")
      .simd("f32x4.mul");
  f.get(p).get(ni).i32(1).simd("i32x4.shr_s");
  pow2();
  f.get(ni).get(ni).i32(1).simd("i32x4.shr_s").simd("i32x4.sub");
  pow2();
}
