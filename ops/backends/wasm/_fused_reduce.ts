/**
 * Stores and reduction accumulators of fused kernels (`_fused_codegen.ts`):
 * four lanes of partial results per output row (`rows` nests, combined
 * when the row is done) or one output per lane (`cols` nests). float32
 * sums accumulate in float64, as the CPU reference does; max and min
 * propagate NaN as `f32x4.max` does; bool reductions are "any" (sum, max)
 * and "all" (min).
 *
 * @module
 */

import type { DType } from "../../dtype.ts";
import type { Fn, Local } from "./_asm.ts";
import type { Lanes } from "./_fused_ops.ts";
import { ELEM_BYTES } from "./_fused_plan.ts";

const HALVES = [8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7];
const PAIRS = [4, 5, 6, 7, 0, 1, 2, 3, 12, 13, 14, 15, 8, 9, 10, 11];
const BYTES_0_4_8_12 = [0, 4, 8, 12, 0, 4, 8, 12, 0, 4, 8, 12, 0, 4, 8, 12];
const INT32_MIN = -2147483648, INT32_MAX = 2147483647;

/** Stores `lanes` elements of `v` (a `dtype` value) at `p + offset`. */
export function store(
  f: Fn,
  p: Local,
  v: Local,
  dtype: DType,
  lanes: Lanes,
  offset = 0,
): void {
  const b = ELEM_BYTES[dtype];
  f.get(p).get(v);
  if (lanes === 4) {
    if (b === 4) f.mem("v128.store", offset);
    else f.get(v).shuffle(BYTES_0_4_8_12).storeLane(0, offset);
  } else {
    f.simd("i32x4.extract_lane", 0)
      .mem(b === 4 ? "i32.store" : "i32.store8", offset);
  }
}

/** The accumulator locals of a reduction and the code that updates them. */
export class Accumulator {
  readonly #f: Fn;
  readonly #op: "sum" | "max" | "min";
  readonly #dtype: DType;
  /** Four lanes (float32 sums: lanes 0, 1 as float64). */
  readonly #v: Local;
  /** float32 sums: lanes 2, 3 as float64. */
  readonly #hi: Local;
  /** Sums in rows: single-lane steps, counted once (lane 0). */
  readonly #one: Local;

  constructor(f: Fn, op: "sum" | "max" | "min", dtype: DType) {
    this.#f = f;
    this.#op = op;
    this.#dtype = dtype;
    this.#v = f.local("v128");
    this.#hi = f.local("v128");
    this.#one = f.local("v128");
  }

  /** Sets the accumulators to the reduction's identity. */
  init(): void {
    const f = this.#f, op = this.#op;
    if (this.#dtype === "float32" && op !== "sum") {
      f.f32x4(op === "max" ? -Infinity : Infinity);
    } else if (this.#dtype === "int32" && op !== "sum") {
      f.i32x4(op === "max" ? INT32_MIN : INT32_MAX);
    } else f.i32x4(this.#dtype === "bool" && op === "min" ? -1 : 0);
    f.set(this.#v);
    f.i32x4(0).set(this.#hi).i32x4(0).set(this.#one);
  }

  /**
   * Adds value `x`: four lanes, or one (splatted) lane; `row` when all
   * lanes add into one output, so a single-lane value must count once.
   */
  add(x: Local, lanes: Lanes, row: boolean): void {
    const f = this.#f, op = this.#op;
    const once = row && lanes === 1;
    if (this.#dtype === "bool") {
      f.get(this.#v).get(x).i32x4(0).simd("i32x4.ne");
      f.simd(op === "min" ? "v128.and" : "v128.or").set(this.#v);
    } else if (op !== "sum") {
      const isF = this.#dtype === "float32";
      const simd = op === "max"
        ? (isF ? "f32x4.max" : "i32x4.max_s")
        : (isF ? "f32x4.min" : "i32x4.min_s");
      f.get(this.#v).get(x).simd(simd).set(this.#v);
    } else if (this.#dtype === "int32") {
      const to = once ? this.#one : this.#v;
      f.get(to).get(x).simd("i32x4.add").set(to);
    } else {
      const to = once ? this.#one : this.#v;
      f.get(to).get(x).simd("f64x2.promote_low_f32x4").simd("f64x2.add")
        .set(to);
      if (lanes === 4) {
        f.get(this.#hi).get(x).get(x).shuffle(HALVES)
          .simd("f64x2.promote_low_f32x4").simd("f64x2.add").set(this.#hi);
      }
    }
  }

  /** Folds `other` (same op and dtype) into this accumulator. */
  merge(other: Accumulator): void {
    const f = this.#f, op = this.#op;
    const both = (a: Local, b: Local, simd: Parameters<Fn["simd"]>[0]) => {
      f.get(a).get(b).simd(simd).set(a);
    };
    if (this.#dtype === "bool") {
      return both(this.#v, other.#v, op === "min" ? "v128.and" : "v128.or");
    }
    if (op !== "sum") {
      const isF = this.#dtype === "float32";
      return both(
        this.#v,
        other.#v,
        op === "max"
          ? (isF ? "f32x4.max" : "i32x4.max_s")
          : (isF ? "f32x4.min" : "i32x4.min_s"),
      );
    }
    const add = this.#dtype === "int32" ? "i32x4.add" : "f64x2.add";
    both(this.#v, other.#v, add);
    both(this.#one, other.#one, add);
    if (this.#dtype === "float32") both(this.#hi, other.#hi, add);
  }

  /** Combines the lanes (and the single-lane sum) into one value at `p`. */
  storeRow(p: Local): void {
    const f = this.#f, v = this.#v;
    if (this.#dtype === "float32" && this.#op === "sum") {
      const t = f.local("v128");
      f.get(v).get(this.#hi).simd("f64x2.add").set(t);
      f.get(p).get(t).simd("f64x2.extract_lane", 0)
        .get(t).simd("f64x2.extract_lane", 1).op("f64.add")
        .get(this.#one).simd("f64x2.extract_lane", 0).op("f64.add")
        .op("f32.demote_f64").mem("f32.store");
      return;
    }
    const combine = () => {
      if (this.#dtype === "bool") {
        f.simd(this.#op === "min" ? "v128.and" : "v128.or");
      } else if (this.#op === "sum") f.simd("i32x4.add");
      else {
        const isF = this.#dtype === "float32";
        f.simd(
          this.#op === "max"
            ? (isF ? "f32x4.max" : "i32x4.max_s")
            : (isF ? "f32x4.min" : "i32x4.min_s"),
        );
      }
    };
    for (const lanes of [HALVES, PAIRS]) {
      f.get(v).get(v).get(v).shuffle(lanes);
      combine();
      f.set(v);
    }
    f.get(p).get(v).simd("i32x4.extract_lane", 0);
    if (this.#op === "sum" && this.#dtype === "int32") {
      f.get(this.#one).simd("i32x4.extract_lane", 0).op("i32.add");
    }
    if (this.#dtype === "bool") {
      f.i32(0).op("i32.ne").mem("i32.store8");
    } else f.mem("i32.store");
  }

  /** Stores each lane's result (one lane: the first) at `p + offset`. */
  storeLanes(p: Local, lanes: Lanes, offset: number): void {
    const f = this.#f, v = this.#v;
    if (this.#dtype === "float32" && this.#op === "sum") {
      for (let lane = 0; lane < lanes; lane++) {
        f.get(p).get(lane < 2 ? v : this.#hi)
          .simd("f64x2.extract_lane", lane % 2).op("f32.demote_f64")
          .mem("f32.store", offset + 4 * lane);
      }
      return;
    }
    if (this.#dtype === "bool") {
      f.get(v).simd("i32x4.neg").set(v); // masks to 0/1
    }
    store(f, p, v, this.#dtype, lanes, offset);
  }
}
