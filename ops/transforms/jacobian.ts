/**
 * Full Jacobians: `jacfwd` evaluates the tangent map once per input
 * element, `jacrev` transposes it once per output element; both linearize
 * the function once and lay the result out as `out.shape + in.shape`.
 * `hessian` is `jacfwd(jacrev(f))`.
 *
 * @module
 */

import { fromHost } from "../core.ts";
import type { Tensor } from "../tensor.ts";
import { evalLinear } from "../linearize.ts";
import { treeUnflatten } from "../pytree.ts";
import { backendOf, zerosFor, zerosOn } from "../_convert.ts";
import { reshape, stack } from "../shape_ops.ts";
import { checkOptions } from "../_options.ts";
import { checkFn, flatArgs, selectArgs } from "./_common.ts";
import type { AnyFn, ArgnumsOptions, Args, GradsOf } from "./types.ts";
import { type Linearized, linearizeFlat, pullback } from "./_linearized.ts";

/** Options of {@link jacfwd}, {@link jacrev} and {@link hessian}. */
export type JacobianOptions = ArgnumsOptions;

/**
 * The Jacobian of an output `R` with respect to inputs whose cotangent
 * structure is `G`: each leaf of `R` is replaced by `G`, whose tensors have
 * shape `out.shape + in.shape`.
 */
export type Jacobian<R, G> = R extends Tensor | number ? G
  : R extends readonly unknown[]
    ? { -readonly [K in keyof R]: Jacobian<R[K], G> }
  : R extends Record<string, unknown>
    ? { -readonly [K in keyof R]: Jacobian<R[K], G> }
  : R;

/** The Jacobian type of function `F` under options `O`. */
export type JacobianOf<F extends AnyFn, O> = Jacobian<
  ReturnType<F>,
  GradsOf<Parameters<F>, O>
>;

const JACOBIAN_OPTIONS = ["argnums"] as const;

type Direction = "jacfwd" | "jacrev";

/** A one-hot float32 tensor of `x`'s shape, on its backend, with a 1 at flat index `i`. */
function basis(x: Tensor, i: number): Tensor {
  const data = new Float32Array(x.size);
  data[i] = 1;
  return fromHost(data, x.shape, "float32", backendOf([x]));
}

/** `[0, 1, ..., n-1]`. */
const range = (n: number): number[] => [...Array(n).keys()];

/** Stacks per-element slices along `axis` into an `out.shape + in.shape` block. */
function block(
  parts: readonly Tensor[],
  out: Tensor,
  x: Tensor,
  axis: 0 | -1,
): Tensor {
  const shape = [...out.shape, ...x.shape];
  return parts.length === 0
    ? zerosOn(shape, backendOf([x]))
    : reshape(stack(parts, axis), shape);
}

/**
 * The Jacobian block of output leaf `o` and input leaf `l`, for every pair:
 * forward mode pushes a basis tangent per input element, reverse mode pulls
 * a basis cotangent back per output element.
 */
function blocks(
  dir: Direction,
  lin: Linearized,
): (o: number, l: number) => Tensor {
  const ins = lin.inputs, outs = lin.primalsOut;
  if (dir === "jacfwd") {
    // cols[l][e][o]: tangent of output o along element e of input l.
    const cols = ins.map((x, l) =>
      range(x.size).map((e) =>
        evalLinear(
          lin.program,
          ins.map((t, j) => (j === l ? basis(t, e) : zerosFor(t))),
          dir,
        )
      )
    );
    return (o, l) => block(cols[l]!.map((c) => c[o]!), outs[o]!, ins[l]!, -1);
  }
  // rows[o][e][l]: cotangent of input l for element e of output o.
  const rows = outs.map((y, o) =>
    range(y.size).map((e) =>
      pullback(lin, outs.map((q, j) => (j === o ? basis(q, e) : null)))
    )
  );
  return (o, l) => block(rows[o]!.map((r) => r[l]!), outs[o]!, ins[l]!, 0);
}

function jacobian<F extends AnyFn, O extends JacobianOptions>(
  dir: Direction,
  f: F,
  opts: O | undefined,
): JacobianFn<F, O> {
  checkFn(dir, f);
  checkOptions(dir, opts, JACOBIAN_OPTIONS);
  const jac = (...args: unknown[]) => {
    const sel = selectArgs(dir, f, opts?.argnums, args);
    const [leaves, inDef] = flatArgs(dir, sel.pick);
    const lin = linearizeFlat(
      dir,
      (ls) => sel.call(treeUnflatten<unknown[]>(inDef, ls)),
      leaves,
      false,
    );
    const at = blocks(dir, lin);
    return treeUnflatten(
      lin.outDef,
      lin.primalsOut.map((_, o) => {
        const perArg = treeUnflatten<unknown[]>(
          inDef,
          leaves.map((_, l) => at(o, l)),
        );
        return sel.many ? perArg : perArg[0];
      }),
    );
  };
  return jac as JacobianFn<F, O>;
}

/** The function a Jacobian transform returns for `f` and options `O`. */
export type JacobianFn<F extends AnyFn, O> = (
  ...args: Args<Parameters<F>>
) => JacobianOf<F, O>;

/** The signature that {@link jacfwd} and {@link jacrev} share. */
export type JacobianTransform = <
  F extends AnyFn,
  const O extends JacobianOptions = Record<never, never>,
>(f: F, opts?: O) => JacobianFn<F, O>;

/** The Jacobian transform of direction `dir`. */
function transform(dir: Direction): JacobianTransform {
  return (f, opts) => jacobian(dir, f, opts);
}

/**
 * The Jacobian by forward mode (one tangent evaluation per input element),
 * as `jax.jacfwd`. For a tensor input and output it has shape
 * `out.shape + in.shape`; for pytrees it is a pytree of such blocks, outer
 * structure from the output. `argnums` picks the argument(s).
 *
 * @example
 * ```ts
 * import { jacfwd, mul, tensor, type Tensor } from "@heed/heed";
 * import { assertEquals } from "@std/assert";
 *
 * const J = jacfwd((x: Tensor) => mul(x, x))(tensor([1, 2]));
 * assertEquals(await J.array(), [[2, 0], [0, 4]]);
 * ```
 */
export const jacfwd: JacobianTransform = transform("jacfwd");

/**
 * The Jacobian by reverse mode (one backward pass per output element), as
 * `jax.jacrev`, with the same layout and options as {@link jacfwd}.
 *
 * @example
 * ```ts
 * import { jacrev, mul, tensor, type Tensor } from "@heed/heed";
 * import { assertEquals } from "@std/assert";
 *
 * const [Jx, Jy] = jacrev((x: Tensor, y: Tensor) => mul(x, y), {
 *   argnums: [0, 1],
 * })(tensor([1, 2]), tensor([3, 4]));
 * assertEquals(await Jx.array(), [[3, 0], [0, 4]]);
 * assertEquals(await Jy.array(), [[1, 0], [0, 2]]);
 * ```
 */
export const jacrev: JacobianTransform = transform("jacrev");

/**
 * The Hessian of a scalar function, `jacfwd(jacrev(f))`, as `jax.hessian`:
 * for a tensor input it has shape `in.shape + in.shape`.
 *
 * @example
 * ```ts
 * import { hessian, mul, sum, tensor, type Tensor } from "@heed/heed";
 * import { assertEquals } from "@std/assert";
 *
 * const H = hessian((x: Tensor) => sum(mul(mul(x, x), x)))(tensor([1, 2]));
 * assertEquals(await H.array(), [[6, 0], [0, 12]]);
 * ```
 */
export function hessian<
  F extends AnyFn,
  const O extends JacobianOptions = Record<never, never>,
>(f: F, opts?: O): (
  ...args: Args<Parameters<F>>
) => Jacobian<JacobianOf<F, O>, GradsOf<Parameters<F>, O>> {
  checkFn("hessian", f);
  checkOptions("hessian", opts, JACOBIAN_OPTIONS);
  const inner: AnyFn = jacobian("jacrev", f, opts);
  return jacobian("jacfwd", inner, opts) as ReturnType<typeof hessian<F, O>>;
}
