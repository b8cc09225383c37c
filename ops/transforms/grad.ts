/**
 * Gradients of scalar functions: `grad` and `valueAndGrad`, reverse mode
 * with the output cotangent fixed to 1.
 *
 * @module
 */

import { fmtShape } from "../dtype.ts";
import { scalar } from "../core.ts";
import type { Tensor } from "../tensor.ts";
import { treeUnflatten } from "../pytree.ts";
import { checkOptions } from "../_options.ts";
import { backendOf } from "../_convert.ts";
import { checkFloat, checkFn, flatArgs, selectArgs } from "./_common.ts";
import type { AnyFn, ArgnumsOptions, Args, GradsOf } from "./types.ts";
import { linearizeFlat, pullback } from "./_linearized.ts";

/** Options of {@link grad} and {@link valueAndGrad}. */
export interface GradOptions extends ArgnumsOptions {
  /** The function returns `[output, aux]`; aux is passed through. */
  readonly hasAux?: boolean;
}

const GRAD_OPTIONS = ["argnums", "hasAux"] as const;

/** The aux value of a `hasAux` function's result. */
export type AuxOf<R> = R extends readonly [unknown, infer X] ? X : never;

/** The output value (without aux) of a function's result. */
export type ValueOf<R, O> = O extends { hasAux: true }
  ? R extends readonly [infer V, unknown] ? V : never
  : R;

function valueAndGradImpl(
  op: string,
  f: AnyFn,
  opts: GradOptions,
  args: unknown[],
): { value: Tensor; aux: unknown; grads: unknown } {
  const sel = selectArgs(op, f, opts.argnums, args);
  const [leaves, inDef] = flatArgs(op, sel.pick);
  const lin = linearizeFlat(
    op,
    (ls) => sel.call(treeUnflatten<unknown[]>(inDef, ls)),
    leaves,
    opts.hasAux ?? false,
  );
  const value = lin.primalsOut[0];
  if (lin.primalsOut.length !== 1 || !value || value.ndim !== 0) {
    const got = lin.primalsOut.map((p) => `${p.dtype}${fmtShape(p.shape)}`);
    throw new TypeError(
      `${op}: the function must return a scalar float32 tensor, got ${
        got.join(", ") || "no tensor"
      }; reduce the output to a scalar (e.g. with sum or mean), or use jacrev for the Jacobian of a non-scalar function`,
    );
  }
  checkFloat(op, value, "the output");
  const per = treeUnflatten<unknown[]>(
    inDef,
    pullback(lin, [scalar(1, "float32", backendOf([value]))]),
  );
  return { value, aux: lin.aux, grads: sel.many ? per : per[0] };
}

/**
 * The gradient of a scalar function, as `jax.grad`: `grad(f)(x)` has the
 * structure of `x` (a pytree). `argnums` picks the argument (or a list of
 * them, giving a tuple); `hasAux` lets `f` return `[output, aux]`.
 *
 * @example
 * ```ts
 * import { grad, mul, tensor, type Tensor } from "@heed/heed";
 * import { assertEquals } from "@std/assert";
 *
 * const cube = (x: Tensor) => mul(mul(x, x), x);
 * assertEquals(await grad(grad(cube))(tensor(2)).item(), 12);
 * const g = grad((x: Tensor, y: Tensor) => mul(x, y), { argnums: 1 });
 * assertEquals(await g(tensor(3), tensor(4)).item(), 3);
 * ```
 */
export function grad<
  F extends AnyFn,
  const O extends GradOptions = Record<never, never>,
>(
  f: F,
  opts?: O,
): (
  ...args: Args<Parameters<F>>
) => O extends { hasAux: true }
  ? [GradsOf<Parameters<F>, O>, AuxOf<ReturnType<F>>]
  : GradsOf<Parameters<F>, O> {
  checkFn("grad", f);
  checkOptions("grad", opts, GRAD_OPTIONS);
  const o: GradOptions = opts ?? {};
  // deno-lint-ignore no-explicit-any
  return ((...args: unknown[]): any => {
    const r = valueAndGradImpl("grad", f, o, args);
    return o.hasAux ? [r.grads, r.aux] : r.grads;
  });
}

/**
 * Like {@link grad}, but returns `[value, grads]` (`[[value, aux], grads]`
 * with `hasAux`), computing both in one pass.
 *
 * @example
 * ```ts
 * import { mul, tensor, type Tensor, valueAndGrad } from "@heed/heed";
 * import { assertEquals } from "@std/assert";
 *
 * const [y, g] = valueAndGrad((x: Tensor) => mul(x, x))(tensor(3));
 * assertEquals([await y.item(), await g.item()], [9, 6]);
 * ```
 */
export function valueAndGrad<
  F extends AnyFn,
  const O extends GradOptions = Record<never, never>,
>(
  f: F,
  opts?: O,
): (...args: Args<Parameters<F>>) => [
  O extends { hasAux: true } ? [Tensor, AuxOf<ReturnType<F>>] : Tensor,
  GradsOf<Parameters<F>, O>,
] {
  checkFn("valueAndGrad", f);
  checkOptions("valueAndGrad", opts, GRAD_OPTIONS);
  const o: GradOptions = opts ?? {};
  // deno-lint-ignore no-explicit-any
  return ((...args: unknown[]): any => {
    const r = valueAndGradImpl("valueAndGrad", f, o, args);
    return [o.hasAux ? [r.value, r.aux] : r.value, r.grads];
  });
}
