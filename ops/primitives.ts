/**
 * The closed set of primitives that every heed op is built from, with their
 * typed params. Each primitive has a shape rule (`shape_rules.ts`), an
 * implementation per backend, a JVP rule (`jvp.ts`) and, when it is linear
 * in an argument, a transpose rule (`transpose.ts`). Those tables are typed
 * mapped records over {@link Primitive}, so a missing rule fails `deno check`.
 *
 * Names follow JAX's (`reduce_sum`, `dot_general`, ...).
 *
 * @module
 */

import type { DType } from "./dtype.ts";

/** A parameterless primitive. */
export type NoParams = Record<string, never>;

/** Unary elementwise primitives (float in, same dtype out). */
export type UnaryPrimitive =
  | "neg"
  | "exp"
  | "log"
  | "log1p"
  | "sqrt"
  | "rsqrt"
  | "sin"
  | "cos"
  | "tanh"
  | "logistic"
  | "erf"
  | "abs"
  | "sign";

/** Binary elementwise primitives with NumPy broadcasting. */
export type BinaryPrimitive =
  | "add"
  | "sub"
  | "mul"
  | "div"
  | "pow"
  | "max"
  | "min";

/** Comparisons: broadcasting, output `bool`. */
export type ComparePrimitive = "eq" | "ne" | "lt" | "le" | "gt" | "ge";

/** Logical ops on `bool` operands. */
export type LogicalPrimitive = "and" | "or";

/** Params of `dot_general`: which axes contract and which are batch axes. */
export interface DotGeneralParams {
  /** Axes of the left operand summed over, paired with `rhsContract`. */
  readonly lhsContract: readonly number[];
  /** Axes of the right operand summed over. */
  readonly rhsContract: readonly number[];
  /** Batch axes of the left operand, paired with `rhsBatch`. */
  readonly lhsBatch: readonly number[];
  /** Batch axes of the right operand. */
  readonly rhsBatch: readonly number[];
}

/**
 * A cotangent rule captured by `customVjp`, recorded as a linear node for
 * one output. `bwd` is linear in the cotangent, so the contributions of
 * several outputs add up.
 */
export interface CustomLinParams {
  /** Maps this output's cotangent to one cotangent per linear input. */
  readonly bwd: (ct: unknown) => readonly (unknown)[];
}

/** The typed params of every primitive. */
export interface PrimitiveParams {
  neg: NoParams;
  exp: NoParams;
  log: NoParams;
  log1p: NoParams;
  sqrt: NoParams;
  rsqrt: NoParams;
  sin: NoParams;
  cos: NoParams;
  tanh: NoParams;
  logistic: NoParams;
  erf: NoParams;
  abs: NoParams;
  sign: NoParams;
  add: NoParams;
  sub: NoParams;
  mul: NoParams;
  div: NoParams;
  pow: NoParams;
  max: NoParams;
  min: NoParams;
  eq: NoParams;
  ne: NoParams;
  lt: NoParams;
  le: NoParams;
  gt: NoParams;
  ge: NoParams;
  and: NoParams;
  or: NoParams;
  not: NoParams;
  /** `select(pred, onTrue, onFalse)`, broadcasting all three. */
  select: NoParams;
  convert_element_type: { readonly dtype: DType };
  reduce_sum: { readonly axes: readonly number[] };
  reduce_max: { readonly axes: readonly number[] };
  reduce_min: { readonly axes: readonly number[] };
  argmax: { readonly axis: number };
  argmin: { readonly axis: number };
  dot_general: DotGeneralParams;
  reshape: { readonly shape: readonly number[] };
  transpose: { readonly perm: readonly number[] };
  /** `dims[i]` is the output axis that input axis `i` maps to. */
  broadcast_in_dim: {
    readonly shape: readonly number[];
    readonly dims: readonly number[];
  };
  slice: {
    readonly start: readonly number[];
    readonly limit: readonly number[];
  };
  pad: {
    readonly lo: readonly number[];
    readonly hi: readonly number[];
    readonly value: number;
  };
  concatenate: { readonly axis: number };
  /** `gather(x, idx)`: `x.shape[:axis] + idx.shape + x.shape[axis+1:]`. */
  gather: { readonly axis: number };
  /** `scatter_add(updates, idx)`: the transpose of `gather` into `shape`. */
  scatter_add: { readonly axis: number; readonly shape: readonly number[] };
  /** `iota`: values `0..shape[dim]-1` along `dim`. */
  iota: {
    readonly shape: readonly number[];
    readonly dim: number;
    readonly dtype: DType;
  };
  /** Uniform floats in [0, 1) from Threefry-2x32 in counter mode. */
  random_uniform: {
    readonly key: readonly [number, number];
    readonly shape: readonly number[];
  };
  custom_lin: CustomLinParams;
}

/** The name of a primitive. */
export type Primitive = keyof PrimitiveParams;

/** The params of primitive `P`. */
export type Params<P extends Primitive> = PrimitiveParams[P];

/** Every primitive name, for iteration in tests. */
export const PRIMITIVES: readonly Primitive[] = [
  "neg",
  "exp",
  "log",
  "log1p",
  "sqrt",
  "rsqrt",
  "sin",
  "cos",
  "tanh",
  "logistic",
  "erf",
  "abs",
  "sign",
  "add",
  "sub",
  "mul",
  "div",
  "pow",
  "max",
  "min",
  "eq",
  "ne",
  "lt",
  "le",
  "gt",
  "ge",
  "and",
  "or",
  "not",
  "select",
  "convert_element_type",
  "reduce_sum",
  "reduce_max",
  "reduce_min",
  "argmax",
  "argmin",
  "dot_general",
  "reshape",
  "transpose",
  "broadcast_in_dim",
  "slice",
  "pad",
  "concatenate",
  "gather",
  "scatter_add",
  "iota",
  "random_uniform",
  "custom_lin",
];
