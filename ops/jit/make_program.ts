/**
 * `makeProgram`: a function's program for given arguments, as
 * `jax.make_jaxpr`.
 *
 * @module
 */

import { checkOptions } from "../_options.ts";
import type { AnyFn } from "../transforms/types.ts";
import { signatureOf, staticSet } from "./_signature.ts";
import { type Traced, traceFlat } from "./trace.ts";

/** Options of {@link makeProgram} and `jit`. */
export interface StaticOptions {
  /**
   * Arguments passed to the function as they are, not traced: they key the
   * cache by value (primitives and plain data by content, other objects by
   * identity). Number leaves of the other arguments are static too.
   */
  readonly staticArgnums?: number | readonly number[];
}

/**
 * Returns a function that traces `f` on its arguments into a program: the
 * tensor leaves of the arguments become the program's inputs, and each
 * primitive `f` binds becomes an equation (ops on constants too). Nothing
 * is computed. See `printProgram` for its text.
 *
 * @example
 * ```ts
 * import { add, makeProgram, tensor, type Tensor } from "@heed/heed";
 * import { assertEquals } from "@std/assert";
 *
 * const f = (p: { w: Tensor; b: Tensor }, x: Tensor) => add(x, add(p.w, p.b));
 * const { program } = makeProgram(f)({ w: tensor([1]), b: tensor([2]) }, tensor([3]));
 * assertEquals(program.inputs.length, 3);
 * assertEquals(program.eqns.map((e) => e.prim), ["add", "add"]);
 * ```
 */
export function makeProgram<F extends AnyFn>(
  f: F,
  opts?: StaticOptions,
): (...args: Parameters<F>) => Traced {
  checkOptions("makeProgram", opts, ["staticArgnums"]);
  if (typeof f !== "function") {
    throw new TypeError(`makeProgram: expected a function, got ${typeof f}`);
  }
  const statics = staticSet("makeProgram", opts?.staticArgnums);
  return (...args: Parameters<F>): Traced => {
    const sig = signatureOf("makeProgram", args, statics);
    const g = f as unknown as (...a: unknown[]) => unknown;
    return traceFlat("makeProgram", (ins) => g(...sig.rebuild(ins)), sig.avals);
  };
}
