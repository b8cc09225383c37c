/**
 * Samplers driven by explicit keys: `uniform`, `normal`, `bernoulli`,
 * `categorical`, `permutation`. The same key gives the same numbers on every
 * run and every backend, and under `jit` (where keys are traced inputs)
 * as eagerly.
 *
 * @module
 */

import { checkShape, fmtShape, normAxes } from "./dtype.ts";
import { bind, fromHost } from "./core.ts";
import type { Tensor } from "./tensor.ts";
import { checkOptions } from "./_options.ts";
import { Key, keyOperand, permutationIndices, split } from "./random_key.ts";
import { add, cos, less, log, mul, neg, sqrt, sub } from "./elementwise.ts";
import { argmax } from "./reduce.ts";
import { asTensor, type TensorLike } from "./_convert.ts";

export {
  foldIn,
  Key,
  key,
  keyFromData,
  type KeyOperand,
  keyOperand,
  type Keys,
  type KeyStep,
  type KeyTuple,
  MAX_KEY_PATH,
  permutationIndices,
  split,
} from "./random_key.ts";

function checkKey(op: string, k: Key): void {
  if (!(k instanceof Key)) {
    throw new TypeError(`${op}: expected a Key (made with key(seed))`);
  }
}

/** Options of {@link uniform}. */
export interface UniformOptions {
  /** Lower bound (default 0). */
  min?: number;
  /** Upper bound, excluded (default 1). */
  max?: number;
}

/**
 * Uniform float32 samples in `[min, max)`.
 *
 * @example
 * ```ts
 * import { key, uniform } from "@heed/heed";
 * import { assertEquals } from "@std/assert";
 *
 * const a = await uniform(key(0), [3]).array();
 * assertEquals(a, await uniform(key(0), [3]).array());
 * ```
 */
export function uniform(
  k: Key,
  shape: readonly number[],
  opts?: UniformOptions,
): Tensor {
  checkKey("uniform", k);
  checkShape("uniform", shape);
  checkOptions("uniform", opts, ["min", "max"]);
  const lo = opts?.min ?? 0, hi = opts?.max ?? 1;
  if (!(hi > lo)) {
    throw new RangeError(`uniform: max (${hi}) must exceed min (${lo})`);
  }
  // The key is an operand, so a key traced by jit stays a program input.
  const { data, path } = keyOperand(k);
  const u = bind("random_uniform", [data], { shape: [...shape], path });
  return lo === 0 && hi === 1 ? u : add(mul(u, hi - lo), lo);
}

/** Standard normal float32 samples (Box-Muller). */
export function normal(k: Key, shape: readonly number[]): Tensor {
  checkKey("normal", k);
  checkShape("normal", shape);
  const [k1, k2] = split(k);
  // u1 in (0, 1] so that log(u1) is finite.
  const u1 = sub(1, uniform(k1!, shape));
  const u2 = uniform(k2!, shape);
  return mul(sqrt(mul(-2, log(u1))), cos(mul(2 * Math.PI, u2)));
}

/** Bool samples that are true with probability `p` (a number or tensor). */
export function bernoulli(
  k: Key,
  p: TensorLike,
  shape?: readonly number[],
): Tensor {
  checkKey("bernoulli", k);
  const pt = asTensor("bernoulli", p, "float32");
  const s = shape ?? pt.shape;
  checkShape("bernoulli", s);
  return less(uniform(k, s), pt);
}

/**
 * Samples class indices (int32) from unnormalised log-probabilities along
 * `axis` (default last), by the Gumbel-max trick.
 */
export function categorical(
  k: Key,
  logits: TensorLike,
  axis?: number,
): Tensor {
  checkKey("categorical", k);
  const l = asTensor("categorical", logits, "float32");
  if (l.ndim === 0) {
    throw new TypeError(
      `categorical: logits must have at least one axis, got ${
        fmtShape(l.shape)
      }`,
    );
  }
  const u = uniform(k, l.shape, { min: 1.1754943508222875e-38, max: 1 });
  const gumbel = neg(log(neg(log(u))));
  return argmax(add(l, gumbel), {
    axis: normAxes("categorical", axis ?? -1, l.ndim)[0]!,
  });
}

/** A random permutation of `0..n-1` as an int32 tensor. */
export function permutation(k: Key, n: number): Tensor {
  checkKey("permutation", k);
  const idx = permutationIndices(k, n);
  return fromHost(idx, [n], "int32");
}
