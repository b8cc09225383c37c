/**
 * Neural-network helpers built from the primitives: softmax, logSoftmax,
 * layerNorm, crossEntropy, dropout.
 *
 * @module
 */

import { broadcastShapes, fmtShape, normAxes } from "./dtype.ts";
import type { Tensor } from "./tensor.ts";
import { asTensor, castTo, type TensorLike } from "./_convert.ts";
import {
  add,
  div,
  equal,
  exp,
  maximum,
  mul,
  neg,
  notEqual,
  rsqrt,
  sub,
  where,
} from "./elementwise.ts";
import { logsumexp, max, mean, sum, variance } from "./reduce.ts";
import { oneHot } from "./shape_ops.ts";
import { stopGradient } from "./stop_gradient.ts";
import { bernoulli, type Key } from "./random.ts";

/** Options naming one axis. */
export interface AxisOptions {
  /** The axis (default -1, the last). */
  axis?: number;
}

/**
 * `exp(x) / sum(exp(x))` along `axis`, shifted by the maximum for stability.
 *
 * @example
 * ```ts
 * import { softmax, sum, tensor } from "@heed/heed";
 * import { assertAlmostEquals } from "@std/assert";
 *
 * const p = softmax(tensor([[1, 2, 3]]));
 * assertAlmostEquals(await sum(p).item() as number, 1, 1e-6);
 * ```
 */
export function softmax(x: TensorLike, opts: AxisOptions = {}): Tensor {
  const t = castTo(asTensor("softmax", x), "float32");
  const axis = normAxes("softmax", opts.axis ?? -1, t.ndim)[0]!;
  // The shift is a constant: take max of the undifferentiated input, so no
  // derivative of max is built and then thrown away.
  const m = max(stopGradient(t), { axis, keepdims: true });
  const safe = where(equal(m, -Infinity), 0, m);
  const e = exp(sub(t, safe));
  return div(e, sum(e, { axis, keepdims: true }));
}

/** `x - logsumexp(x)` along `axis`: log-probabilities, computed stably. */
export function logSoftmax(x: TensorLike, opts: AxisOptions = {}): Tensor {
  const t = castTo(asTensor("logSoftmax", x), "float32");
  const axis = normAxes("logSoftmax", opts.axis ?? -1, t.ndim)[0]!;
  return sub(t, logsumexp(t, { axis, keepdims: true }));
}

/** Options of {@link layerNorm}. */
export interface LayerNormOptions {
  /** Normalised axis (default -1). */
  axis?: number;
  /** Added to the variance (default 1e-5). */
  eps?: number;
  /** Multiplies the result (γ), broadcasting. */
  scale?: Tensor;
  /** Added to the result (β), broadcasting. */
  offset?: Tensor;
}

/** Normalises `x` to zero mean and unit variance along `axis`, then scales and shifts. */
export function layerNorm(x: TensorLike, opts: LayerNormOptions = {}): Tensor {
  const t = castTo(asTensor("layerNorm", x), "float32");
  const axis = normAxes("layerNorm", opts.axis ?? -1, t.ndim)[0]!;
  const eps = opts.eps ?? 1e-5;
  if (!(eps >= 0)) {
    throw new RangeError(`layerNorm: eps must be non-negative, got ${eps}`);
  }
  const mu = mean(t, { axis, keepdims: true });
  const v = variance(t, { axis, keepdims: true });
  let y = mul(sub(t, mu), rsqrt(add(v, eps)));
  if (opts.scale) {
    broadcastShapes("layerNorm (scale)", y.shape, opts.scale.shape);
    y = mul(y, opts.scale);
  }
  if (opts.offset) {
    broadcastShapes("layerNorm (offset)", y.shape, opts.offset.shape);
    y = add(y, opts.offset);
  }
  return y;
}

/** Options of {@link crossEntropy}. */
export interface CrossEntropyOptions {
  /** Targets equal to this class index add no loss and no gradient. */
  ignoreIndex?: number;
  /** Mixes the one-hot target with the uniform distribution (0 to 1, default 0). */
  labelSmoothing?: number;
  /** `"mean"` over non-ignored targets (default), `"sum"`, or `"none"`. */
  reduction?: "mean" | "sum" | "none";
}

/**
 * Softmax cross-entropy between `logits [..., C]` and int32 class `labels
 * [...]` (or float probabilities `[..., C]`).
 *
 * @example
 * ```ts
 * import { crossEntropy, tensor } from "@heed/heed";
 * import { assertAlmostEquals } from "@std/assert";
 *
 * const logits = tensor([[0, 0], [0, 0]]);
 * const labels = tensor([0, 1], { dtype: "int32" });
 * assertAlmostEquals(await crossEntropy(logits, labels).item() as number, Math.LN2, 1e-6);
 * ```
 */
export function crossEntropy(
  logits: TensorLike,
  labels: TensorLike,
  opts: CrossEntropyOptions = {},
): Tensor {
  const z = castTo(asTensor("crossEntropy", logits), "float32");
  const y = asTensor("crossEntropy", labels);
  if (z.ndim === 0) {
    throw new TypeError("crossEntropy: logits need a class axis, got a scalar");
  }
  const classes = z.shape[z.ndim - 1]!;
  const eps = opts.labelSmoothing ?? 0;
  if (!(eps >= 0 && eps <= 1)) {
    throw new RangeError(
      `crossEntropy: labelSmoothing must be in [0, 1], got ${eps}`,
    );
  }
  const reduction = opts.reduction ?? "mean";
  if (!["mean", "sum", "none"].includes(reduction)) {
    throw new RangeError(`crossEntropy: unknown reduction "${reduction}"`);
  }
  const logp = sub(z, logsumexp(z, { axis: -1, keepdims: true }));
  let target: Tensor;
  let valid: Tensor | null = null;
  if (y.dtype === "int32") {
    const batch = z.shape.slice(0, -1);
    if (y.ndim !== batch.length || y.shape.some((d, i) => d !== batch[i])) {
      throw new TypeError(
        `crossEntropy: labels ${
          fmtShape(y.shape)
        } must have the shape of logits ${
          fmtShape(z.shape)
        } without the class axis`,
      );
    }
    let ids = y;
    if (opts.ignoreIndex !== undefined) {
      valid = castTo(notEqual(y, opts.ignoreIndex), "float32");
      ids = where(equal(y, opts.ignoreIndex), 0, y);
    }
    target = oneHot(ids, classes);
  } else if (y.dtype === "float32") {
    if (y.ndim !== z.ndim || y.shape.some((d, i) => d !== z.shape[i])) {
      throw new TypeError(
        `crossEntropy: probability targets ${
          fmtShape(y.shape)
        } must match logits ${fmtShape(z.shape)}`,
      );
    }
    target = y;
  } else {
    throw new TypeError(
      `crossEntropy: labels must be int32 or float32, got ${y.dtype}`,
    );
  }
  if (eps > 0) target = add(mul(target, 1 - eps), eps / classes);
  let loss = neg(sum(mul(target, logp), { axis: -1 }));
  if (valid) loss = mul(loss, valid);
  if (reduction === "none") return loss;
  const total = sum(loss);
  if (reduction === "sum") return total;
  const count = valid ? maximum(sum(valid), 1) : Math.max(loss.size, 1);
  return div(total, count);
}

/** Options of {@link dropout}. */
export interface DropoutOptions {
  /** Probability of zeroing each element, in [0, 1). */
  rate: number;
  /** The PRNG key that decides which elements drop. */
  key: Key;
}

/**
 * Zeroes each element with probability `rate` and scales the rest by
 * `1 / (1 - rate)`, so the expectation is unchanged. Deterministic for a key.
 */
export function dropout(x: TensorLike, opts: DropoutOptions): Tensor {
  const t = castTo(asTensor("dropout", x), "float32");
  const { rate, key } = opts;
  if (!(rate >= 0 && rate < 1)) {
    throw new RangeError(`dropout: rate must be in [0, 1), got ${rate}`);
  }
  if (rate === 0) return t;
  const keep = bernoulli(key, 1 - rate, t.shape);
  return where(keep, div(t, 1 - rate), 0);
}
