/**
 * Reverse mode: `vjp` evaluates a function and returns its pullback, which
 * maps an output cotangent to one cotangent per argument.
 *
 * @module
 */

import { treeUnflatten } from "../pytree.ts";
import type { AnyFn, Cotangent } from "./types.ts";
import { backward, linearizeArgs } from "./_linearized.ts";

/**
 * Reverse mode: evaluates `f` at `primals` and returns a function that maps
 * an output cotangent to one cotangent per argument, as `jax.vjp`.
 *
 * @example
 * ```ts
 * import { mul, sum, tensor, type Tensor, vjp } from "@heed/heed";
 * import { assertEquals } from "@std/assert";
 *
 * const [y, back] = vjp((x: Tensor) => sum(mul(x, x)), tensor([1, 2]));
 * const [g] = back(tensor(1));
 * assertEquals([await y.item(), await g.array()], [5, [2, 4]]);
 * ```
 */
export function vjp<F extends AnyFn>(
  f: F,
  ...primals: Parameters<F>
): [ReturnType<F>, (ct: Cotangent<ReturnType<F>>) => Cotangent<Parameters<F>>] {
  const { lin, inDef } = linearizeArgs("vjp", f, primals);
  return [
    treeUnflatten<ReturnType<F>>(lin.outDef, lin.primalsOut),
    (ct) => treeUnflatten(inDef, backward("vjp", lin, ct)),
  ];
}
