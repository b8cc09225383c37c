/**
 * Batching: the interpreter of `vmap` and the batching rule of every
 * primitive. A {@link BatchTracer} holds a value with one extra axis, the
 * batch axis, at position `bdim`; a rule maps batched operands (`null`:
 * the operand is the same for every example) to the batched output and
 * its batch axis, as JAX's `BatchTrace`.
 *
 * @module
 */

import { type Aval, fmtShape, sameShape } from "./dtype.ts";
import { bind, type MainTrace, type Trace } from "./core.ts";
import type { Params, Primitive } from "./primitives.ts";
import { type Tensor, Tracer } from "./tensor.ts";
import type { Backend } from "./backend.ts";
import { backendOf } from "./_convert.ts";
import { SHAPE_BATCH_RULES } from "./batching_shape.ts";
import { flashBatch } from "./flash/_batch.ts";
import {
  type BatchRule,
  type Bdim,
  notBatched,
  toFront,
} from "./_batch_axes.ts";

export type { BatchRule, Bdim } from "./_batch_axes.ts";

/**
 * `random_uniform` under a batch of keys (`keyFromData` of a batched
 * tensor): one draw per example's key, stacked. An unbatched key draws
 * once for every example.
 */
const randomUniform: BatchRule<"random_uniform"> = (
  [k],
  [d = null],
  p,
  size,
) => {
  if (d === null) return [bind("random_uniform", [k!], p), null];
  const keys = toFront(k!, d); // [size, 2]
  const draws = Array.from({ length: size }, (_, b) => {
    const row = bind("slice", [keys], { start: [b, 0], limit: [b + 1, 2] });
    const kb = bind("reshape", [row], { shape: [2] });
    const u = bind("random_uniform", [kb], p);
    return bind("reshape", [u], { shape: [1, ...p.shape] });
  });
  return [bind("concatenate", draws, { axis: 0 }), 0];
};

/**
 * A value traced by `vmap`: `val` holds every example along axis `bdim`,
 * while the tracer itself has one example's shape.
 *
 * @example Inside vmap, a function sees one example
 * ```ts
 * import { tensor, type Tensor } from "@heed/heed";
 * import { assert, assertEquals } from "@std/assert";
 * import { BatchTracer } from "./batching.ts";
 * import { vmap } from "./transforms/vmap.ts";
 *
 * let seen: readonly number[] = [];
 * vmap((x: Tensor) => {
 *   assert(x instanceof BatchTracer && x.bdim === 0);
 *   seen = x.shape;
 *   return x;
 * })(tensor([[1, 2, 3], [4, 5, 6]]));
 * assertEquals(seen, [3]);
 * ```
 */
export class BatchTracer extends Tracer {
  /** All examples, stacked along `bdim`. */
  readonly val: Tensor;
  /** The batch axis of `val`. */
  readonly bdim: number;

  /** Wraps `val`, batched along `bdim`, at level `main`; its aval is one example's. */
  constructor(main: MainTrace, val: Tensor, bdim: number) {
    super(
      { shape: val.shape.filter((_, i) => i !== bdim), dtype: val.dtype },
      main,
    );
    this.val = val;
    this.bdim = bdim;
  }

  /** The backend of the batched value. */
  override get storageBackend(): Backend | undefined {
    return backendOf([this.val]);
  }

  /**
   * The batched value with the perturbations of the transforms under it
   * dropped (what `stopGradient` needs): batching is not a perturbation.
   */
  override dropPerturbation(): Tensor {
    let v = this.val;
    while (v instanceof Tracer) {
      const p = v.dropPerturbation();
      if (p === v) break;
      v = p;
    }
    return v === this.val
      ? this
      : new BatchTracer(this.main as MainTrace, v, this.bdim);
  }
}

/**
 * The batching interpreter of one `vmap` level, mapping `size` examples:
 * it unpacks its tracers, applies the primitive's rule from
 * {@link BATCH_RULES} and checks the result against the primitive's
 * per-example shape rule.
 *
 * @example A level of the interpreter stack
 * ```ts
 * import { mul, tensor } from "@heed/heed";
 * import { assertEquals } from "@std/assert";
 * import { withMain } from "./core.ts";
 * import { BatchTrace, BatchTracer } from "./batching.ts";
 *
 * const ys = withMain((m) => new BatchTrace(m, 2), (main) => {
 *   const x = new BatchTracer(main, tensor([[1, 2], [3, 4]]), 1);
 *   const y = mul(x, 10) as BatchTracer; // one example: [2]
 *   return [y.val, y.bdim] as const;
 * });
 * assertEquals([await ys[0].array(), ys[1]], [[[10, 20], [30, 40]], 1]);
 * ```
 */
export class BatchTrace implements Trace {
  /** This level. */
  readonly main: MainTrace;
  /** The number of examples (the length of every batch axis). */
  readonly size: number;

  /** Creates the interpreter of `main` for `size` examples. */
  constructor(main: MainTrace, size: number) {
    this.main = main;
    this.size = size;
  }

  /** Splits an operand into its value and batch axis (`null`: not batched here). */
  unpack(x: Tensor): [Tensor, Bdim] {
    if (x instanceof BatchTracer && x.main === this.main) {
      return [x.val, x.bdim];
    }
    return [x, null];
  }

  /** Wraps a rule's result as a tracer of this level (or leaves it unbatched). */
  pack(y: Tensor, bdim: Bdim): Tensor {
    return bdim === null ? y : new BatchTracer(this.main, y, bdim);
  }

  process<P extends Primitive>(
    prim: P,
    inputs: readonly Tensor[],
    params: Params<P>,
    out: Aval,
  ): Tensor {
    const vals: Tensor[] = [], dims: Bdim[] = [];
    for (const x of inputs) {
      const [v, d] = this.unpack(x);
      vals.push(v);
      dims.push(d);
    }
    if (dims.every((d) => d === null)) return bind(prim, vals, params);
    const [y, d] = (BATCH_RULES[prim] as BatchRule<P>)(
      vals,
      dims,
      params,
      this.size,
    );
    const per = d === null ? y.shape : y.shape.filter((_, i) => i !== d);
    if (
      !sameShape(per, out.shape) || y.dtype !== out.dtype ||
      (d !== null && y.shape[d] !== this.size)
    ) {
      throw new Error(
        `vmap: internal error: the batching rule of ${prim} gave ${y.dtype}${
          fmtShape(y.shape)
        } batched at ${d} for ${out.dtype}${fmtShape(out.shape)}`,
      );
    }
    return this.pack(y, d);
  }
}

/** Prepends `n` axes of length 1 after the leading batch axis of `x`. */
function padRank(x: Tensor, n: number): Tensor {
  if (n === 0) return x;
  const shape = [x.shape[0]!, ...Array(n).fill(1), ...x.shape.slice(1)];
  return bind("reshape", [x], { shape });
}

/**
 * The rule of an elementwise primitive (any arity, NumPy broadcasting):
 * batch axes are aligned at the front, batched operands of lower rank get
 * axes of length 1 so that broadcasting pairs the right axes. When every
 * batched operand already agrees, nothing moves.
 */
function elementwise<P extends Primitive>(prim: P): BatchRule<P> {
  return (xs, ds, params) => {
    const ranks = xs.map((x, i) => x.ndim - (ds[i] === null ? 0 : 1));
    const rank = Math.max(...ranks);
    const d0 = ds.find((d) => d !== null)!;
    const inPlace = xs.every((_, i) =>
      ds[i] === null
        ? ranks[i]! <= rank - d0
        : ds[i] === d0 && ranks[i] === rank
    );
    if (inPlace) return [bind(prim, xs, params), d0];
    const ys = xs.map((x, i) =>
      ds[i] === null ? x : padRank(toFront(x, ds[i]!), rank - ranks[i]!)
    );
    return [bind(prim, ys, params), 0];
  };
}

/** `reduce_*` over per-example `axes`: the same axes of the batched value, shifted past the batch axis. */
function reduce<P extends "reduce_sum" | "reduce_max" | "reduce_min">(
  prim: P,
): BatchRule<P> {
  return ([x], [d], params) => {
    const axes = params.axes.map((a) => (a >= d! ? a + 1 : a));
    const out = d! - params.axes.filter((a) => a < d!).length;
    return [bind(prim, [x!], { axes } as Params<P>), out];
  };
}

/** `argmax`/`argmin` along a per-example axis: shift it past the batch axis. */
function argReduce<P extends "argmax" | "argmin">(prim: P): BatchRule<P> {
  return ([x], [d], params) => {
    const axis = params.axis >= d! ? params.axis + 1 : params.axis;
    return [
      bind(prim, [x!], { axis } as Params<P>),
      params.axis < d! ? d! - 1 : d!,
    ];
  };
}

/**
 * `dot_general`: with both operands batched, the batch axes become a new
 * leading pair of dot batch axes (output axis 0); with one, its batch axis
 * is a free axis of that operand and stays one in the output.
 */
const dotGeneral: BatchRule<"dot_general"> = ([x, y], ds, p) => {
  const dx = ds[0] ?? null, dy = ds[1] ?? null;
  const sh = (d: Bdim) => (a: number) => (d !== null && a >= d ? a + 1 : a);
  const lc = p.lhsContract.map(sh(dx)), rc = p.rhsContract.map(sh(dy));
  const lb = p.lhsBatch.map(sh(dx)), rb = p.rhsBatch.map(sh(dy));
  if (dx !== null && dy !== null) {
    const params = {
      lhsContract: lc,
      rhsContract: rc,
      lhsBatch: [dx, ...lb],
      rhsBatch: [dy, ...rb],
    };
    return [bind("dot_general", [x!, y!], params), 0];
  }
  const params = {
    lhsContract: lc,
    rhsContract: rc,
    lhsBatch: lb,
    rhsBatch: rb,
  };
  const out = bind("dot_general", [x!, y!], params);
  // Output axes: dot batch axes, then lhs free axes, then rhs free axes.
  const freeBefore = (d: number, used: readonly number[]) =>
    [...Array(d).keys()].filter((a) => !used.includes(a)).length;
  if (dx !== null) return [out, lb.length + freeBefore(dx, [...lc, ...lb])];
  const lhsFree = x!.ndim - lc.length - lb.length;
  return [out, lb.length + lhsFree + freeBefore(dy!, [...rc, ...rb])];
};

/** The rule for `custom_lin`, which only appears inside linear programs. */
const customLin: BatchRule<"custom_lin"> = () => {
  throw new TypeError(
    "vmap: custom_lin (the backward rule of a customVjp function) has no batching rule; it is only bound while a linear program is evaluated forward, which customVjp does not support",
  );
};

/**
 * The batching rule of every primitive (a missing one fails `deno check`).
 *
 * @example Summing each example, batched along axis 1
 * ```ts
 * import { tensor } from "@heed/heed";
 * import { assertEquals } from "@std/assert";
 * import { BATCH_RULES } from "./batching.ts";
 *
 * // Examples [1, 3] and [2, 4] are the columns.
 * const xs = tensor([[1, 2], [3, 4]]);
 * const [y, bdim] = BATCH_RULES.reduce_sum([xs], [1], { axes: [0] }, 2);
 * assertEquals([await y.array(), bdim], [[4, 6], 0]);
 * ```
 */
export const BATCH_RULES: { [P in Primitive]: BatchRule<P> } = {
  neg: elementwise("neg"),
  exp: elementwise("exp"),
  log: elementwise("log"),
  log1p: elementwise("log1p"),
  sqrt: elementwise("sqrt"),
  rsqrt: elementwise("rsqrt"),
  sin: elementwise("sin"),
  cos: elementwise("cos"),
  tanh: elementwise("tanh"),
  logistic: elementwise("logistic"),
  erf: elementwise("erf"),
  abs: elementwise("abs"),
  sign: elementwise("sign"),
  add: elementwise("add"),
  sub: elementwise("sub"),
  mul: elementwise("mul"),
  div: elementwise("div"),
  pow: elementwise("pow"),
  max: elementwise("max"),
  min: elementwise("min"),
  eq: elementwise("eq"),
  ne: elementwise("ne"),
  lt: elementwise("lt"),
  le: elementwise("le"),
  gt: elementwise("gt"),
  ge: elementwise("ge"),
  and: elementwise("and"),
  or: elementwise("or"),
  not: elementwise("not"),
  select: elementwise("select"),
  convert_element_type: elementwise("convert_element_type"),
  reduce_sum: reduce("reduce_sum"),
  reduce_max: reduce("reduce_max"),
  reduce_min: reduce("reduce_min"),
  argmax: argReduce("argmax"),
  argmin: argReduce("argmin"),
  dot_general: dotGeneral,
  ...SHAPE_BATCH_RULES,
  // iota has no operands, so every example sees the same values.
  iota: notBatched("iota"),
  random_uniform: randomUniform,
  custom_lin: customLin,
  flash_attention: flashBatch,
};
