/**
 * Scalar and lane helpers of flash kernels (`_flash_codegen.ts`): a SIMD
 * body applied to one f32, horizontal sums and maxima of four lanes.
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
