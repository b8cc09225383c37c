/**
 * Forward mode: `jvp` pushes tangents through a function alongside its
 * values; `linearize` does the same once and returns the tangent map as a
 * reusable linear function.
 *
 * @module
 */

import { withMain } from "../core.ts";
import type { Tensor } from "../tensor.ts";
import { JvpTrace, JvpTracer } from "../jvp.ts";
import { evalLinear } from "../linearize.ts";
import { treeDefEqual, treeFlatten, treeUnflatten } from "../pytree.ts";
import { zerosFor } from "../_convert.ts";
import { checkFn, checkTangent, loose, toTensor } from "./_common.ts";
import type { AnyFn, Cotangent } from "./types.ts";
import { linearizeArgs, unpackOutputs } from "./_linearized.ts";

/**
 * Forward mode: evaluates `f` at `primals` and its directional derivative
 * along `tangents` (pytrees of the same structure), as `jax.jvp`.
 *
 * @example
 * ```ts
 * import { jvp, mul, tensor, type Tensor } from "@heed/heed";
 * import { assertEquals } from "@std/assert";
 *
 * const [y, yDot] = jvp((x: Tensor) => mul(x, x), [tensor(3)], [tensor(1)]);
 * assertEquals([await y.item(), await yDot.item()], [9, 6]);
 * ```
 */
export function jvp<A extends unknown[], R>(
  f: (...args: A) => R,
  primals: A,
  tangents: A,
): [R, Cotangent<R>] {
  checkFn("jvp", f);
  const [pLeaves, pDef] = treeFlatten(primals);
  const [tLeaves, tDef] = treeFlatten(tangents);
  if (!treeDefEqual(pDef, tDef) || pLeaves.length !== tLeaves.length) {
    throw new TypeError("jvp: primals and tangents have different structures");
  }
  return withMain((m) => new JvpTrace(m), (main) => {
    const ins = pLeaves.map((p, i) => {
      const x = toTensor("jvp", p), t = toTensor("jvp", tLeaves[i]!);
      checkTangent("jvp", "tangent", t, x);
      return x.dtype === "float32" ? new JvpTracer(main, x, t) : x;
    });
    const out = loose(f as AnyFn)(...treeUnflatten<unknown[]>(pDef, ins));
    const [oLeaves, oDef] = treeFlatten(out);
    const [ps, ts] = unpackOutputs(main, oLeaves);
    return [
      treeUnflatten(oDef, ps),
      treeUnflatten(oDef, ts.map((t, i) => t ?? zerosFor(ps[i]!))),
    ] as [R, Cotangent<R>];
  });
}

/**
 * Evaluates `f` at `primals` and returns its linear approximation there: a
 * function from input tangents (each of its primal's shape and dtype) to
 * output tangents, as `jax.linearize`.
 *
 * @example
 * ```ts
 * import { linearize, mul, tensor, type Tensor } from "@heed/heed";
 * import { assertEquals } from "@std/assert";
 *
 * const [y, f] = linearize((x: Tensor) => mul(x, x), tensor([1, 2]));
 * assertEquals(await y.array(), [1, 4]);
 * assertEquals(await f(tensor([1, 1])).array(), [2, 4]);
 * ```
 */
export function linearize<F extends AnyFn>(
  f: F,
  ...primals: Parameters<F>
): [ReturnType<F>, (...tangents: Parameters<F>) => Cotangent<ReturnType<F>>] {
  const { lin, inDef, leaves } = linearizeArgs("linearize", f, primals);
  const jvpFn = (...tangents: Parameters<F>) => {
    const [tLeaves, tDef] = treeFlatten(tangents);
    if (!treeDefEqual(tDef, inDef)) {
      throw new TypeError(
        "linearize: tangents do not match the primals' structure",
      );
    }
    const ts = tLeaves.map((l, i) => {
      const t = toTensor("linearize", l);
      checkTangent("linearize", "tangent", t, leaves[i]!);
      return t;
    });
    const outs: Tensor[] = evalLinear(lin.program, ts);
    return treeUnflatten<Cotangent<ReturnType<F>>>(lin.outDef, outs);
  };
  return [treeUnflatten<ReturnType<F>>(lin.outDef, lin.primalsOut), jvpFn];
}
