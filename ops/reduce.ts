/**
 * Reductions: sum, mean, max, min, argmax, argmin, logsumexp, variance, each
 * with `axis` and `keepdims`.
 *
 * @module
 */

import { normAxes, normAxis } from "./dtype.ts";
import { bind } from "./core.ts";
import type { Tensor } from "./tensor.ts";
import { asTensor, backendOf, castTo, type TensorLike } from "./_convert.ts";
import { checkOptions } from "./_options.ts";
import { abs, add, div, exp, log, mul, sub } from "./elementwise.ts";
import { reshape } from "./shape_ops.ts";
import { stopGradient } from "./stop_gradient.ts";

/** Options shared by the reductions. */
export interface ReduceOptions {
  /** Axis or axes to reduce (default: all). Negative axes count from the end. */
  axis?: number | readonly number[];
  /** Keep reduced axes with size 1 (default `false`). */
  keepdims?: boolean;
}

const REDUCE_OPTIONS = ["axis", "keepdims"];

function keep(
  x: Tensor,
  axes: readonly number[],
  y: Tensor,
  keepdims?: boolean,
): Tensor {
  if (!keepdims) return y;
  return reshape(y, x.shape.map((d, i) => (axes.includes(i) ? 1 : d)));
}

function reduce(
  prim: "reduce_sum" | "reduce_max" | "reduce_min",
  op: string,
  x: TensorLike,
  opts: ReduceOptions | undefined,
): Tensor {
  checkOptions(op, opts, REDUCE_OPTIONS);
  let t = asTensor(op, x);
  if (t.dtype === "bool") t = castTo(t, "int32");
  const axes = normAxes(op, opts?.axis, t.ndim);
  if (prim !== "reduce_sum") {
    for (const a of axes) {
      if (t.shape[a] === 0) {
        throw new RangeError(`${op}: cannot reduce an empty axis ${a}`);
      }
    }
  }
  const y = axes.length === 0 ? t : bind(prim, [t], { axes });
  return keep(t, axes, y, opts?.keepdims);
}

/**
 * Sum of elements over `axis` (default: all).
 *
 * @example
 * ```ts
 * import { sum, tensor } from "@heed/heed";
 * import { assertEquals } from "@std/assert";
 *
 * const x = tensor([[1, 2], [3, 4]]);
 * assertEquals(await sum(x).item(), 10);
 * assertEquals(await sum(x, { axis: 1, keepdims: true }).array(), [[3], [7]]);
 * ```
 */
export function sum(x: TensorLike, opts?: ReduceOptions): Tensor {
  return reduce("reduce_sum", "sum", x, opts);
}

/** Maximum over `axis`; its gradient is shared equally between ties. */
export function max(x: TensorLike, opts?: ReduceOptions): Tensor {
  return reduce("reduce_max", "max", x, opts);
}

/** Minimum over `axis`; its gradient is shared equally between ties. */
export function min(x: TensorLike, opts?: ReduceOptions): Tensor {
  return reduce("reduce_min", "min", x, opts);
}

/** Arithmetic mean over `axis` (float32). */
export function mean(x: TensorLike, opts?: ReduceOptions): Tensor {
  checkOptions("mean", opts, REDUCE_OPTIONS);
  const t = asTensor("mean", x);
  const axes = normAxes("mean", opts?.axis, t.ndim);
  const n = axes.reduce((acc, a) => acc * t.shape[a]!, 1);
  return div(sum(castTo(t, "float32"), opts), n);
}

/** Population variance over `axis` (float32). */
export function variance(x: TensorLike, opts?: ReduceOptions): Tensor {
  checkOptions("variance", opts, REDUCE_OPTIONS);
  const t = castTo(asTensor("variance", x), "float32");
  normAxes("variance", opts?.axis, t.ndim);
  const centered = sub(t, mean(t, { ...opts, keepdims: true }));
  return mean(mul(centered, centered), opts);
}

function argReduce(
  prim: "argmax" | "argmin",
  x: TensorLike,
  opts: ArgReduceOptions | undefined,
): Tensor {
  checkOptions(prim, opts, REDUCE_OPTIONS);
  const axis = opts?.axis, keepdims = opts?.keepdims ?? false;
  let t = asTensor(prim, x);
  if (t.dtype === "bool") t = castTo(t, "int32");
  let ax: number;
  if (axis === undefined) {
    t = reshape(t, [-1]);
    ax = 0;
  } else ax = normAxis(prim, axis, t.ndim);
  if (t.ndim === 0) t = reshape(t, [1]);
  if (t.shape[ax] === 0) {
    throw new RangeError(`${prim}: cannot reduce an empty axis ${ax}`);
  }
  const y = bind(prim, [t], { axis: ax });
  return keepdims && axis !== undefined ? keep(t, [ax], y, true) : y;
}

/** Options of {@link argmax} and {@link argmin}. */
export interface ArgReduceOptions {
  /** The axis (default: the flattened tensor). */
  axis?: number;
  /** Keep the reduced axis with size 1 (default `false`). */
  keepdims?: boolean;
}

/** Index of the largest element along `axis` (first one on ties), as int32. */
export function argmax(x: TensorLike, opts?: ArgReduceOptions): Tensor {
  return argReduce("argmax", x, opts);
}

/** Index of the smallest element along `axis` (first one on ties), as int32. */
export function argmin(x: TensorLike, opts?: ArgReduceOptions): Tensor {
  return argReduce("argmin", x, opts);
}

/**
 * `log(sum(exp(x)))` over `axis`, computed stably by shifting by the
 * (gradient-stopped) maximum, so inputs of ±1e4 do not overflow.
 *
 * @example
 * ```ts
 * import { logsumexp, tensor } from "@heed/heed";
 * import { assertAlmostEquals } from "@std/assert";
 *
 * const y = await logsumexp(tensor([1e4, 1e4])).item();
 * assertAlmostEquals(y as number, 1e4 + Math.log(2), 1e-2);
 * ```
 */
export function logsumexp(x: TensorLike, opts?: ReduceOptions): Tensor {
  checkOptions("logsumexp", opts, REDUCE_OPTIONS);
  const t = castTo(asTensor("logsumexp", x), "float32");
  const axes = normAxes("logsumexp", opts?.axis, t.ndim);
  const m = max(stopGradient(t), { axis: axes, keepdims: true });
  const home = backendOf([t]);
  // Shift by 0 where the maximum is infinite, so that a row of -Infinity
  // gives -Infinity and a row holding +Infinity gives +Infinity, not NaN.
  const safe = bind("select", [
    bind("eq", [abs(m), asTensor("logsumexp", Infinity, "float32", home)], {}),
    asTensor("logsumexp", 0, "float32", home),
    m,
  ], {});
  const s = add(
    log(sum(exp(sub(t, safe)), { axis: axes, keepdims: true })),
    safe,
  );
  return opts?.keepdims
    ? s
    : reshape(s, t.shape.filter((_, i) => !axes.includes(i)));
}
