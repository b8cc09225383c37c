/**
 * Which wasm kernel serves a primitive, and how its operands are walked:
 * broadcasting binary ops become contiguous runs (one kernel call per run),
 * reductions over trailing or leading axes become row or column kernels.
 * A function here returns false when no kernel fits; the backend then uses
 * the CPU reference kernel on views of the wasm memory.
 *
 * @module
 */

import { forEachRun } from "../_cpu_common.ts";
import type { Aval } from "../../dtype.ts";
import type { Primitive } from "../../primitives.ts";
import type { BinaryKernel, UnaryKernel } from "./_kernels.ts";
import type { Exports } from "./_threads.ts";

/** An operand: its byte address and abstract value. */
export interface Ref {
  /** Byte address of element 0. */
  readonly ptr: number;
  /** Shape and dtype. */
  readonly aval: Aval;
}

function broadcastStrides(
  inShape: readonly number[],
  outShape: readonly number[],
): number[] {
  const own: number[] = new Array(inShape.length);
  let acc = 1;
  for (let i = inShape.length - 1; i >= 0; i--) {
    own[i] = acc;
    acc *= inShape[i]!;
  }
  const lead = outShape.length - inShape.length;
  return outShape.map((_, i) => {
    const j = i - lead;
    return j < 0 || inShape[j] === 1 ? 0 : own[j]!;
  });
}

/**
 * Walks `shape` in row-major order and calls `visit` once per innermost
 * run, after dropping axes of extent 1 and merging neighbouring axes that
 * every operand steps through as one. `offs` and `steps` are in elements
 * and are reused between calls.
 */
export function eachRun(
  shape: readonly number[],
  strides: readonly (readonly number[])[],
  visit: (offs: readonly number[], n: number, steps: readonly number[]) => void,
): void {
  forEachRun(shape, strides.map((s) => ({ offset: 0, strides: s })), visit);
}

const BINARY: Partial<Record<Primitive, string>> = {
  add: "add",
  sub: "sub",
  mul: "mul",
  div: "div",
  max: "max",
  min: "min",
};
const INT_OK = new Set(["add", "sub", "mul"]);

/** A broadcasting binary op on float32 (or int32 add/sub/mul); false if none fits. */
export function binaryOp(
  ex: Exports,
  prim: Primitive,
  x: Ref,
  y: Ref,
  out: Aval,
  o: number,
): boolean {
  const base = BINARY[prim];
  const dt = x.aval.dtype;
  if (!base || y.aval.dtype !== dt || out.dtype !== dt) return false;
  if (dt !== "float32" && !(dt === "int32" && INT_OK.has(base))) return false;
  const fn = ex[
    `bin_${base}_${dt === "float32" ? "f32" : "i32"}` as `bin_${BinaryKernel}`
  ]!;
  const strides = [
    broadcastStrides(out.shape, out.shape),
    broadcastStrides(x.aval.shape, out.shape),
    broadcastStrides(y.aval.shape, out.shape),
  ];
  let ok = true;
  eachRun(out.shape, strides, (_o, n, steps) => {
    ok &&= n === 1 || (steps[1]! <= 1 && steps[2]! <= 1);
  });
  if (!ok) return false;
  eachRun(out.shape, strides, (offs, n, steps) => {
    const mode = steps[1] === 1 && steps[2] === 1 ? 0 : steps[2] === 1 ? 2 : 1;
    fn(o + offs[0]! * 4, x.ptr + offs[1]! * 4, y.ptr + offs[2]! * 4, n, mode);
  });
  return true;
}

const UNARY: Partial<Record<Primitive, UnaryKernel>> = {
  neg: "neg_f32",
  abs: "abs_f32",
  sqrt: "sqrt_f32",
};

/** A unary float32 op with a SIMD kernel; false if none fits. */
export function unaryOp(
  ex: Exports,
  prim: Primitive,
  x: Ref,
  n: number,
  o: number,
): boolean {
  const k = UNARY[prim];
  if (!k || x.aval.dtype !== "float32") return false;
  ex[`un_${k}`]!(o, x.ptr, n);
  return true;
}

/**
 * `reduce_sum/max/min` of float32 over trailing axes (rows) or leading axes
 * (columns); false for other axis sets, dtypes, or empty reductions.
 */
export function reduceOp(
  ex: Exports,
  prim: Primitive,
  x: Ref,
  axes: readonly number[],
  o: number,
): boolean {
  const kind = prim === "reduce_sum"
    ? "sum"
    : prim === "reduce_max"
    ? "max"
    : prim === "reduce_min"
    ? "min"
    : null;
  if (!kind || x.aval.dtype !== "float32" || axes.length === 0) return false;
  const shape = x.aval.shape, rank = shape.length;
  let len = 1, kept = 1;
  shape.forEach((d, i) => (axes.includes(i) ? (len *= d) : (kept *= d)));
  if (len === 0 || kept === 0) return false;
  if (axes.every((a, i) => a === rank - axes.length + i)) {
    ex[`rows_${kind}`]!(o, x.ptr, kept, len);
    return true;
  }
  if (axes.every((a, i) => a === i)) {
    ex[`cols_${kind}`]!(o, x.ptr, len, kept);
    return true;
  }
  return false;
}
