/**
 * Neural-network helpers built from the primitives: softmax, logSoftmax,
 * layerNorm, crossEntropy, dropout.
 *
 * @module
 */

import { broadcastShapes, fmtShape, normAxes, sameShape } from "./dtype.ts";
import { type Tensor, Tracer } from "./tensor.ts";
import { checkOptions } from "./_options.ts";
import { asTensor, castTo, type TensorLike } from "./_convert.ts";
import {
  add,
  div,
  equal,
  exp,
  greaterEqual,
  less,
  logicalAnd,
  logicalOr,
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
export function softmax(x: TensorLike, opts?: AxisOptions): Tensor {
  checkOptions("softmax", opts, ["axis"]);
  const t = castTo(asTensor("softmax", x), "float32");
  const axis = normAxes("softmax", opts?.axis ?? -1, t.ndim)[0]!;
  // The shift is a constant: take max of the undifferentiated input, so no
  // derivative of max is built and then thrown away.
  const m = max(stopGradient(t), { axis, keepdims: true });
  const safe = where(equal(m, -Infinity), 0, m);
  const e = exp(sub(t, safe));
  return div(e, sum(e, { axis, keepdims: true }));
}

/** `x - logsumexp(x)` along `axis`: log-probabilities, computed stably. */
export function logSoftmax(x: TensorLike, opts?: AxisOptions): Tensor {
  checkOptions("logSoftmax", opts, ["axis"]);
  const t = castTo(asTensor("logSoftmax", x), "float32");
  const axis = normAxes("logSoftmax", opts?.axis ?? -1, t.ndim)[0]!;
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
export function layerNorm(x: TensorLike, opts?: LayerNormOptions): Tensor {
  checkOptions("layerNorm", opts, ["axis", "eps", "scale", "offset"]);
  const o = opts ?? {};
  const t = castTo(asTensor("layerNorm", x), "float32");
  const axis = normAxes("layerNorm", o.axis ?? -1, t.ndim)[0]!;
  const eps = o.eps ?? 1e-5;
  if (!(eps >= 0)) {
    throw new RangeError(`layerNorm: eps must be non-negative, got ${eps}`);
  }
  const mu = mean(t, { axis, keepdims: true });
  const v = variance(t, { axis, keepdims: true });
  let y = mul(sub(t, mu), rsqrt(add(v, eps)));
  if (o.scale) {
    broadcastShapes("layerNorm (scale)", y.shape, o.scale.shape);
    y = mul(y, o.scale);
  }
  if (o.offset) {
    broadcastShapes("layerNorm (offset)", y.shape, o.offset.shape);
    y = add(y, o.offset);
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

const CROSS_ENTROPY_OPTIONS = ["ignoreIndex", "labelSmoothing", "reduction"];

/**
 * Softmax cross-entropy between `logits [..., C]` and int32 class `labels
 * [...]` (or float probabilities `[..., C]`). A class with probability 0
 * adds nothing, even where its logit is -∞ (0 · log 0 = 0).
 *
 * A label outside `[0, C)` (other than `ignoreIndex`) is an error: a
 * `RangeError` at once when the labels can be read synchronously (tensors
 * on the cpu and wasm backends); on WebGPU, where reading back waits, that
 * row's loss is NaN instead, so the loss is NaN and a non-finite check
 * (as in training) stops.
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
  opts?: CrossEntropyOptions,
): Tensor {
  checkOptions("crossEntropy", opts, CROSS_ENTROPY_OPTIONS);
  const o = opts ?? {};
  const z = castTo(asTensor("crossEntropy", logits), "float32");
  const y = asTensor("crossEntropy", labels);
  if (z.ndim === 0) {
    throw new TypeError("crossEntropy: logits need a class axis, got a scalar");
  }
  const classes = z.shape[z.ndim - 1]!;
  const eps = o.labelSmoothing ?? 0;
  if (!(eps >= 0 && eps <= 1)) {
    throw new RangeError(
      `crossEntropy: labelSmoothing must be in [0, 1], got ${eps}`,
    );
  }
  const reduction = o.reduction ?? "mean";
  if (!["mean", "sum", "none"].includes(reduction)) {
    throw new RangeError(`crossEntropy: unknown reduction "${reduction}"`);
  }
  const logp = sub(z, logsumexp(z, { axis: -1, keepdims: true }));
  let target: Tensor;
  let valid: Tensor | null = null;
  let outOfRange: Tensor | null = null;
  if (y.dtype === "int32") {
    checkLabelShape(z, y);
    checkLabelValues(y, classes, o.ignoreIndex);
    let ids = y;
    if (o.ignoreIndex !== undefined) {
      valid = notEqual(y, o.ignoreIndex);
      ids = where(valid, y, 0);
    }
    // Rows whose label is no class: NaN loss where no check could run first.
    outOfRange = logicalOr(less(ids, 0), greaterEqual(ids, classes));
    target = oneHot(ids, classes);
  } else if (y.dtype === "float32") {
    checkProbabilityShape(z, y);
    target = y;
  } else {
    throw new TypeError(
      `crossEntropy: labels must be int32 or float32, got ${y.dtype} (int32 class ids or float32 probabilities)`,
    );
  }
  if (eps > 0) target = add(mul(target, 1 - eps), eps / classes);
  // 0 · log 0 counts as 0 (a class with target 0 and logit -∞), so it adds
  // no NaN to the loss or its gradient; elsewhere the terms are untouched.
  const impossible = logicalAnd(equal(target, 0), equal(logp, -Infinity));
  const terms = where(impossible, 0, mul(target, logp));
  let loss = neg(sum(terms, { axis: -1 }));
  if (outOfRange) loss = where(outOfRange, NaN, loss);
  if (valid) loss = where(valid, loss, 0);
  if (reduction === "none") return loss;
  const total = sum(loss);
  if (reduction === "sum") return total;
  const count = valid
    ? maximum(sum(castTo(valid, "float32")), 1)
    : Math.max(loss.size, 1);
  return div(total, count);
}

/** int32 labels must have the logits' shape without the class axis. */
function checkLabelShape(z: Tensor, y: Tensor): void {
  const batch = z.shape.slice(0, -1);
  if (!sameShape(y.shape, batch)) {
    throw new TypeError(
      `crossEntropy: labels ${
        fmtShape(y.shape)
      } must have the shape of logits ${
        fmtShape(z.shape)
      } without the class axis`,
    );
  }
}

/** float32 targets are probabilities of the logits' shape, not class ids. */
function checkProbabilityShape(z: Tensor, y: Tensor): void {
  if (sameShape(y.shape, z.shape)) return;
  if (sameShape(y.shape, z.shape.slice(0, -1))) {
    throw new TypeError(
      `crossEntropy: float32 labels ${
        fmtShape(y.shape)
      } look like class ids; pass class ids as int32 (cast(labels, "int32")), or probabilities of the logits' shape ${
        fmtShape(z.shape)
      }`,
    );
  }
  throw new TypeError(
    `crossEntropy: probability targets ${fmtShape(y.shape)} must match logits ${
      fmtShape(z.shape)
    }`,
  );
}

/**
 * Throws a `RangeError` for a label outside `[0, classes)` that is not
 * `ignoreIndex`, when the labels are readable synchronously.
 */
function checkLabelValues(
  y: Tensor,
  classes: number,
  ignoreIndex: number | undefined,
): void {
  if (y instanceof Tracer) return;
  const ids = y.backend.readSync?.(y.handle, y);
  if (!ids) return;
  for (let i = 0; i < ids.length; i++) {
    const c = ids[i]!;
    if ((c < 0 || c >= classes) && c !== ignoreIndex) {
      throw new RangeError(
        `crossEntropy: label ${c} (at flat index ${i}) is out of range for ${classes} classes${
          c < 0 && ignoreIndex === undefined
            ? `; to skip such rows pass { ignoreIndex: ${c} }`
            : ""
        }`,
      );
    }
  }
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
  if (typeof opts !== "object" || opts === null) {
    throw new TypeError("dropout: options { rate, key } are required");
  }
  checkOptions("dropout", opts, ["rate", "key"]);
  const t = castTo(asTensor("dropout", x), "float32");
  const { rate, key } = opts;
  if (!(rate >= 0 && rate < 1)) {
    throw new RangeError(`dropout: rate must be in [0, 1), got ${rate}`);
  }
  if (rate === 0) return t;
  const keep = bernoulli(key, 1 - rate, t.shape);
  return where(keep, div(t, 1 - rate), 0);
}
