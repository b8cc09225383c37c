/**
 * The elementwise primitives of fused kernels as 128-bit SIMD, one
 * exhaustive switch (a new primitive fails `deno check` here). Every value
 * is a v128 of four 32-bit lanes: float32 lanes, int32 lanes, or bool lanes
 * holding the stored byte (0 or 1). A single-lane step (loop tails,
 * `lanes` 1) runs the same code on values splatted to every lane.
 *
 * Each primitive uses the algorithm of the eager wasm kernel, so fused and
 * eager results agree bit for bit: the SIMD bodies of `_math.ts` for exp,
 * log, log1p, tanh, logistic, rsqrt and sign; plain SIMD arithmetic
 * elsewhere; and, where the eager backend runs the CPU reference (sin, cos,
 * erf, pow, int32 division), the same JavaScript functions, called per
 * lane through imports.
 *
 * @module
 */

import type { DType } from "../../dtype.ts";
import type { ElementwisePrimitive } from "../../primitives.ts";
import type { Fn, Local, SimdOp } from "./_asm.ts";
import * as M from "./_math.ts";

/** Host functions a kernel may import (all are the CPU reference's). */
export type ImportName = "sin" | "cos" | "erf" | "powf" | "powi";

/** The function being built and its imports, added on first use. */
export interface Emit {
  /** The function body. */
  readonly f: Fn;
  /** The function index of import `name`. */
  importIndex(name: ImportName): number;
}

/** An argument of an op: the local holding it and its dtype. */
export interface Arg {
  /** A v128 local. */
  readonly local: Local;
  /** Its dtype. */
  readonly dtype: DType;
}

/** Four lanes, or one lane (splatted) in loop tails. */
export type Lanes = 4 | 1;

/** Pushes `x != 0` as 0/1 lanes (`x` int32 or bool). */
function nonZero(f: Fn, x: Local): void {
  f.get(x).i32x4(0).simd("i32x4.ne");
}

/** Turns a lane mask (-1/0) on the stack into bool lanes (1/0). */
function maskToBool(f: Fn): void {
  f.simd("i32x4.neg");
}

/**
 * Pushes `scalar` applied lane by lane: for each lane the arguments'
 * scalars are pushed (float32 or int32) and `scalar` leaves the result.
 */
function perLane(
  e: Emit,
  lanes: Lanes,
  args: readonly Arg[],
  resultFloat: boolean,
  scalar: () => void,
): void {
  const f = e.f;
  const extract = (a: Arg, lane: number) =>
    f.get(a.local).simd(
      a.dtype === "float32" ? "f32x4.extract_lane" : "i32x4.extract_lane",
      lane,
    );
  if (lanes === 1) {
    for (const a of args) extract(a, 0);
    scalar();
    f.simd(resultFloat ? "f32x4.splat" : "i32x4.splat");
    return;
  }
  const res = f.local("v128");
  for (let lane = 0; lane < 4; lane++) {
    f.get(res);
    for (const a of args) extract(a, lane);
    scalar();
    f.simd(
      resultFloat ? "f32x4.replace_lane" : "i32x4.replace_lane",
      lane,
    ).set(res);
  }
  f.get(res);
}

/** A float64 host function on float32 scalars: promote, call, round. */
function hostF32(e: Emit, name: ImportName, arity: number): () => void {
  return () => {
    const f = e.f;
    if (arity === 2) {
      const y = f.local("f32");
      f.set(y).op("f64.promote_f32").get(y).op("f64.promote_f32");
    } else f.op("f64.promote_f32");
    f.call(e.importIndex(name)).op("f32.demote_f64");
  };
}

/**
 * int32 division as the CPU reference's `divInt`: truncating, x / 0 = 0,
 * and INT32_MIN / -1 wraps to INT32_MIN (where `i32.div_s` would trap).
 */
function divInt(f: Fn): () => void {
  return () => {
    const y = f.local("i32"), x = f.local("i32"), r = f.local("i32");
    f.set(y).set(x);
    f.get(y).op("i32.eqz").if(() => f.i32(0).set(r), () => {
      f.get(y).i32(-1).op("i32.eq").if(
        () => f.i32(0).get(x).op("i32.sub").set(r),
        () => f.get(x).get(y).op("i32.div_s").set(r),
      );
    });
    f.get(r);
  };
}

const F32_BODIES = {
  exp: M.expBody,
  log: M.logBody,
  log1p: M.log1pBody,
  tanh: M.tanhBody,
  logistic: M.logisticBody,
  rsqrt: M.rsqrtBody,
  sqrt: (f: Fn, x: Local) => void f.get(x).simd("f32x4.sqrt"),
} as const satisfies Record<string, M.VecBody>;

const ARITH: Record<"add" | "sub" | "mul" | "max" | "min", [SimdOp, SimdOp]> = {
  add: ["f32x4.add", "i32x4.add"],
  sub: ["f32x4.sub", "i32x4.sub"],
  mul: ["f32x4.mul", "i32x4.mul"],
  max: ["f32x4.max", "i32x4.max_s"],
  min: ["f32x4.min", "i32x4.min_s"],
};

const COMPARE: Record<"eq" | "ne" | "lt" | "le" | "gt" | "ge", [
  SimdOp,
  SimdOp,
]> = {
  eq: ["f32x4.eq", "i32x4.eq"],
  ne: ["f32x4.ne", "i32x4.ne"],
  lt: ["f32x4.lt", "i32x4.lt_s"],
  le: ["f32x4.le", "i32x4.le_s"],
  gt: ["f32x4.gt", "i32x4.gt_s"],
  ge: ["f32x4.ge", "i32x4.ge_s"],
};

function dtypeError(prim: string, dts: readonly DType[]): TypeError {
  return new TypeError(
    `fused kernel: ${prim} is not defined on ${dts.join(", ")}`,
  );
}

/** Pushes the conversion of `x` from `from` to `to`. */
function convert(f: Fn, x: Local, from: DType, to: DType): void {
  if (from === to || (from === "bool" && to === "int32")) {
    f.get(x);
  } else if (to === "bool") {
    f.get(x);
    if (from === "float32") f.f32x4(0).simd("f32x4.ne"); // NaN → true
    else f.i32x4(0).simd("i32x4.ne");
    maskToBool(f);
  } else if (to === "float32") {
    f.get(x).simd("f32x4.convert_i32x4_s"); // int32 rounds; bool is 0/1
  } else {
    f.get(x).simd("i32x4.trunc_sat_f32x4_s"); // NaN → 0, saturating
  }
}

/**
 * Pushes the v128 of `prim` applied to `args`, whose result has dtype
 * `out`; throws a TypeError for dtypes the primitive does not take.
 */
export function emitOp(
  e: Emit,
  prim: ElementwisePrimitive,
  args: readonly Arg[],
  out: DType,
  lanes: Lanes,
): void {
  const f = e.f;
  const dts = args.map((a) => a.dtype);
  const x = args[0]!, y = args[1]!;
  const isF = x.dtype === "float32", isI = x.dtype === "int32";
  const float = () => {
    if (!isF) throw dtypeError(prim, dts);
  };
  const numeric = () => {
    if (!isF && !isI) throw dtypeError(prim, dts);
  };
  const same = () => {
    if (y.dtype !== x.dtype) throw dtypeError(prim, dts);
  };
  switch (prim) {
    case "exp":
    case "log":
    case "log1p":
    case "tanh":
    case "logistic":
    case "rsqrt":
    case "sqrt":
      float();
      return F32_BODIES[prim](f, x.local);
    case "sin":
    case "cos":
    case "erf":
      float();
      return perLane(e, lanes, args, true, hostF32(e, prim, 1));
    case "neg":
      numeric();
      f.get(x.local).simd(isF ? "f32x4.neg" : "i32x4.neg");
      return;
    case "abs":
      numeric();
      f.get(x.local).simd(isF ? "f32x4.abs" : "i32x4.abs");
      return;
    case "sign":
      numeric();
      if (isF) return M.signBody(f, x.local);
      // (x < 0 ? -1 : 0) - (x > 0 ? -1 : 0)
      f.get(x.local).i32x4(0).simd("i32x4.lt_s");
      f.get(x.local).i32x4(0).simd("i32x4.gt_s").simd("i32x4.sub");
      return;
    case "add":
    case "sub":
    case "mul":
    case "max":
    case "min":
      numeric();
      same();
      f.get(x.local).get(y.local).simd(ARITH[prim][isF ? 0 : 1]);
      return;
    case "div":
      numeric();
      same();
      if (isF) {
        f.get(x.local).get(y.local).simd("f32x4.div");
        return;
      }
      return perLane(e, lanes, args, false, divInt(f));
    case "pow":
      numeric();
      same();
      if (isF) return perLane(e, lanes, args, true, hostF32(e, "powf", 2));
      return perLane(e, lanes, args, false, () => {
        f.call(e.importIndex("powi"));
      });
    case "eq":
    case "ne":
    case "lt":
    case "le":
    case "gt":
    case "ge":
      same();
      f.get(x.local).get(y.local).simd(COMPARE[prim][isF ? 0 : 1]);
      return maskToBool(f);
    case "and":
    case "or":
      if (x.dtype !== "bool" || y.dtype !== "bool") {
        throw dtypeError(prim, dts);
      }
      nonZero(f, x.local);
      nonZero(f, y.local);
      f.simd(prim === "and" ? "v128.and" : "v128.or");
      return maskToBool(f);
    case "not":
      if (x.dtype !== "bool") throw dtypeError(prim, dts);
      f.get(x.local).i32x4(0).simd("i32x4.eq");
      return maskToBool(f);
    case "select": {
      const t = args[1]!, el = args[2]!;
      if (x.dtype !== "bool" || t.dtype !== el.dtype) {
        throw dtypeError(prim, dts);
      }
      f.get(t.local).get(el.local);
      nonZero(f, x.local);
      f.simd("v128.bitselect");
      return;
    }
    case "convert_element_type":
      return convert(f, x.local, x.dtype, out);
    default:
      return prim satisfies never;
  }
}

/** The arity of each primitive's argument list, for validation. */
export function arityOf(prim: ElementwisePrimitive): number {
  switch (prim) {
    case "select":
      return 3;
    case "add":
    case "sub":
    case "mul":
    case "div":
    case "pow":
    case "max":
    case "min":
    case "eq":
    case "ne":
    case "lt":
    case "le":
    case "gt":
    case "ge":
    case "and":
    case "or":
      return 2;
    default:
      return 1;
  }
}
