/**
 * `stopGradient`: the identity whose derivative is zero, at every level of
 * nested differentiation.
 *
 * @module
 */

import { type Tensor, Tracer } from "./tensor.ts";

/**
 * Returns `x` as a constant for differentiation: its value passes through,
 * its derivative is zero in every mode and at every nesting depth.
 *
 * @example
 * ```ts
 * import { grad, mul, stopGradient, tensor, type Tensor } from "@heed/heed";
 * import { assertEquals } from "@std/assert";
 *
 * // d/dx (x · stop(x)) = stop(x) = 3
 * const g = grad((x: Tensor) => mul(x, stopGradient(x)))(tensor(3));
 * assertEquals(await g.item(), 3);
 * ```
 */
export function stopGradient<T extends Tensor>(x: T): Tensor {
  let y: Tensor = x;
  while (y instanceof Tracer) {
    const p = y.dropPerturbation();
    if (p === y) break;
    y = p;
  }
  return y;
}
