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

/** Logical ops on `bool` operands (`not` is unary). */
export type LogicalPrimitive = "and" | "or";

/** The names of a union, in the order written; a missing or extra one fails `deno check`. */
function names<K extends string>(all: { [P in K]: true }): K[] {
  return Object.keys(all) as K[];
}

/** Every unary elementwise primitive. */
export const UNARY_PRIMITIVES: readonly UnaryPrimitive[] = names<
  UnaryPrimitive
>({
  neg: true,
  exp: true,
  log: true,
  log1p: true,
  sqrt: true,
  rsqrt: true,
  sin: true,
  cos: true,
  tanh: true,
  logistic: true,
  erf: true,
  abs: true,
  sign: true,
});

/** Every binary elementwise primitive. */
export const BINARY_PRIMITIVES: readonly BinaryPrimitive[] = names<
  BinaryPrimitive
>({
  add: true,
  sub: true,
  mul: true,
  div: true,
  pow: true,
  max: true,
  min: true,
});

/** Every comparison. */
export const COMPARE_PRIMITIVES: readonly ComparePrimitive[] = names<
  ComparePrimitive
>({
  eq: true,
  ne: true,
  lt: true,
  le: true,
  gt: true,
  ge: true,
});

/** An elementwise primitive. */
export type ElementwisePrimitive =
  | UnaryPrimitive
  | BinaryPrimitive
  | ComparePrimitive
  | LogicalPrimitive
  | "not"
  | "select"
  | "convert_element_type";

/**
 * Every elementwise primitive: one output element from the elements at the
 * same (broadcast) position of the inputs. Backends build their
 * elementwise kernel tables from this list, never from a copy.
 */
export const ELEMENTWISE_PRIMITIVES: readonly ElementwisePrimitive[] = [
  ...UNARY_PRIMITIVES,
  ...BINARY_PRIMITIVES,
  ...COMPARE_PRIMITIVES,
  ...names<LogicalPrimitive | "not">({ and: true, or: true, not: true }),
  "select",
  "convert_element_type",
];

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

/**
 * Params of `flash_attention`: a `FlashParams` of `backends/flash.ts`,
 * which types the kernel. That file imports this one (through the fused
 * node types), so here the kernel is only an object and the rules read
 * it through `FlashParams`.
 */
export interface FlashAttentionParams {
  /** The computation (a `FlashKernel`). */
  readonly kernel: object;
  /** Which of its results (a `FlashMode`). */
  readonly mode: string;
  /** For `grad_captured`: which captured tensor; else 0. */
  readonly index: number;
}

/** The typed params of every primitive. */
export interface PrimitiveParams {
  /** Params of `neg`. */
  neg: NoParams;
  /** Params of `exp`. */
  exp: NoParams;
  /** Params of `log`. */
  log: NoParams;
  /** Params of `log1p`. */
  log1p: NoParams;
  /** Params of `sqrt`. */
  sqrt: NoParams;
  /** Params of `rsqrt`. */
  rsqrt: NoParams;
  /** Params of `sin`. */
  sin: NoParams;
  /** Params of `cos`. */
  cos: NoParams;
  /** Params of `tanh`. */
  tanh: NoParams;
  /** Params of `logistic`. */
  logistic: NoParams;
  /** Params of `erf`. */
  erf: NoParams;
  /** Params of `abs`. */
  abs: NoParams;
  /** Params of `sign`. */
  sign: NoParams;
  /** Params of `add`. */
  add: NoParams;
  /** Params of `sub`. */
  sub: NoParams;
  /** Params of `mul`. */
  mul: NoParams;
  /** Params of `div`. */
  div: NoParams;
  /** Params of `pow`. */
  pow: NoParams;
  /** Params of `max`. */
  max: NoParams;
  /** Params of `min`. */
  min: NoParams;
  /** Params of `eq`. */
  eq: NoParams;
  /** Params of `ne`. */
  ne: NoParams;
  /** Params of `lt`. */
  lt: NoParams;
  /** Params of `le`. */
  le: NoParams;
  /** Params of `gt`. */
  gt: NoParams;
  /** Params of `ge`. */
  ge: NoParams;
  /** Params of `and`. */
  and: NoParams;
  /** Params of `or`. */
  or: NoParams;
  /** Params of `not`. */
  not: NoParams;
  /** `select(pred, onTrue, onFalse)`, broadcasting all three. */
  select: NoParams;
  /** Params of `convert_element_type`. */
  convert_element_type: { readonly dtype: DType };
  /** Params of `reduce_sum`. */
  reduce_sum: { readonly axes: readonly number[] };
  /** Params of `reduce_max`. */
  reduce_max: { readonly axes: readonly number[] };
  /** Params of `reduce_min`. */
  reduce_min: { readonly axes: readonly number[] };
  /** Params of `argmax`. */
  argmax: { readonly axis: number };
  /** Params of `argmin`. */
  argmin: { readonly axis: number };
  /** Params of `dot_general`. */
  dot_general: DotGeneralParams;
  /** Params of `reshape`. */
  reshape: { readonly shape: readonly number[] };
  /** Params of `transpose`. */
  transpose: { readonly perm: readonly number[] };
  /** `dims[i]` is the output axis that input axis `i` maps to. */
  broadcast_in_dim: {
    readonly shape: readonly number[];
    readonly dims: readonly number[];
  };
  /** Params of `slice`. */
  slice: {
    readonly start: readonly number[];
    readonly limit: readonly number[];
  };
  /** Params of `pad`. */
  pad: {
    readonly lo: readonly number[];
    readonly hi: readonly number[];
    readonly value: number;
  };
  /** Params of `concatenate`. */
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
  /**
   * `random_uniform(key)`: uniform floats in [0, 1) from Threefry-2x32 in
   * counter mode, under the int32 `[2]` operand `key` (the bits of two
   * uint32 words) after folding in `path`, each step
   * `key ← threefry2x32(key, step)` (how split and folded keys stay
   * symbolic under jit).
   */
  random_uniform: {
    readonly shape: readonly number[];
    readonly path: readonly (readonly [number, number])[];
  };
  /** Params of `custom_lin`. */
  custom_lin: CustomLinParams;
  /** Fused attention (see `backends/flash.ts`): operands by `params.mode`. */
  flash_attention: FlashAttentionParams;
}

/** The name of a primitive. */
export type Primitive = keyof PrimitiveParams;

/** The params of primitive `P`. */
export type Params<P extends Primitive> = PrimitiveParams[P];

/** The other primitives, in a fixed order (a missing one fails `deno check`). */
const STRUCTURAL: { [P in Exclude<Primitive, ElementwisePrimitive>]: P } = {
  reduce_sum: "reduce_sum",
  reduce_max: "reduce_max",
  reduce_min: "reduce_min",
  argmax: "argmax",
  argmin: "argmin",
  dot_general: "dot_general",
  reshape: "reshape",
  transpose: "transpose",
  broadcast_in_dim: "broadcast_in_dim",
  slice: "slice",
  pad: "pad",
  concatenate: "concatenate",
  gather: "gather",
  scatter_add: "scatter_add",
  iota: "iota",
  random_uniform: "random_uniform",
  custom_lin: "custom_lin",
  flash_attention: "flash_attention",
};

/** Every primitive name, for iteration in tests. */
export const PRIMITIVES: readonly Primitive[] = [
  ...ELEMENTWISE_PRIMITIVES,
  ...Object.values(STRUCTURAL),
];
