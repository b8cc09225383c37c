/**
 * User-defined derivative rules: `customJvp` replaces a function's forward
 * rule, `customVjp` its backward rule, as `jax.custom_jvp` and
 * `jax.custom_vjp`.
 *
 * @module
 */

import type { MainTrace } from "../core.ts";
import { Tensor, Tracer } from "../tensor.ts";
import { JvpTrace } from "../jvp.ts";
import {
  type Leaf,
  type TreeDef,
  treeFlatten,
  treeUnflatten,
} from "../pytree.ts";
import { zerosFor } from "../_convert.ts";
import { checkFn, loose, toTensor } from "./_common.ts";
import type { Cotangent } from "./types.ts";
import {
  batchedCustomJvp,
  batchedCustomVjp,
  type CustomJvpFn,
  type CustomVjpFn,
} from "./_vmap_custom.ts";

/**
 * Gives `f` a custom JVP rule, as `jax.custom_jvp`. `rule(primals,
 * tangents)` returns `[output, outputTangent]`; higher-order derivatives
 * differentiate the rule itself.
 *
 * @example
 * ```ts
 * import { customJvp, grad, log1p, exp, mul, sigmoid, tensor, type Tensor } from "@heed/heed";
 * import { assertAlmostEquals } from "@std/assert";
 *
 * const softplus = customJvp(
 *   (x: Tensor) => log1p(exp(x)),
 *   ([x], [dx]) => [log1p(exp(x!)), mul(dx!, sigmoid(x!))],
 * );
 * assertAlmostEquals(await grad(softplus)(tensor(0)).item() as number, 0.5, 1e-6);
 * ```
 */
export function customJvp<F extends (...args: never[]) => unknown>(
  f: F,
  rule: (
    primals: Parameters<F>,
    tangents: Cotangent<Parameters<F>>,
  ) => [ReturnType<F>, Cotangent<ReturnType<F>>],
): F {
  checkFn("customJvp", f);
  checkFn("customJvp", rule);
  const g = (...args: Parameters<F>): ReturnType<F> => {
    const batched = batchedCustomJvp(
      args,
      f,
      rule,
      customJvp as unknown as CustomJvpFn,
    );
    if (batched) return batched.out as ReturnType<F>;
    const call = underJvp(args);
    if (!call) return loose(f)(...args) as ReturnType<F>;
    const { trace, def, ps } = call;
    const ts = call.ts.map((t, i) =>
      t ?? zerosFor(toTensor("customJvp", call.leaves[i]!))
    );
    const [y, yDot] = rule(treeUnflatten(def, ps), treeUnflatten(def, ts));
    const [yLeaves, yDef] = treeFlatten(y);
    const [dLeaves] = treeFlatten(yDot);
    return treeUnflatten(
      yDef,
      yLeaves.map((p, i) =>
        trace.pack(toTensor("customJvp", p), toTensor("customJvp", dLeaves[i]!))
      ),
    );
  };
  return g as F;
}

/** A custom rule's call under a JVP level: its flat primals and tangents. */
interface JvpCall {
  readonly trace: JvpTrace;
  readonly def: TreeDef;
  readonly leaves: readonly Leaf[];
  /** The primal of each leaf. */
  readonly ps: Leaf[];
  /** The tangent of each leaf (`null` = zero). */
  readonly ts: (Tensor | null)[];
}

/** Splits `args` at the innermost JVP level, or `null` when no JVP is running. */
function underJvp(args: readonly unknown[]): JvpCall | null {
  const [leaves, def] = treeFlatten(args);
  const main = topJvp(leaves);
  if (!main) return null;
  const trace = main.trace as JvpTrace;
  const split = leaves.map((l): [Leaf, Tensor | null] =>
    l instanceof Tensor ? trace.unpack(l) : [l, null]
  );
  return {
    trace,
    def,
    leaves,
    ps: split.map((s) => s[0]),
    ts: split.map((s) => s[1]),
  };
}

/** The innermost JVP level among `leaves`, if it is the innermost level of all. */
function topJvp(leaves: readonly Leaf[]): MainTrace | null {
  let top: MainTrace | null = null;
  for (const l of leaves) {
    if (l instanceof Tracer) {
      const m = l.main as MainTrace;
      if (!top || m.level > top.level) top = m;
    }
  }
  return top && top.trace instanceof JvpTrace ? top : null;
}

/**
 * Gives `f` a custom reverse-mode rule, as `jax.custom_vjp`: `fwd(...args)`
 * returns `[output, residuals]` and `bwd(residuals, ct)` returns one
 * cotangent per argument; it may return any tensor it can reach (a
 * residual, a closed-over constant), which heed never frees for it.
 * Forward mode (`jvp`, `jacfwd`) is not available for such a function, as
 * in JAX.
 *
 * @example
 * ```ts
 * import { customVjp, grad, mul, tensor, type Tensor } from "@heed/heed";
 * import { assertEquals } from "@std/assert";
 *
 * // The identity, with its gradient clipped to ±1.
 * const clipGrad = customVjp(
 *   (x: Tensor) => x,
 *   (x: Tensor) => [x, null],
 *   (_res, ct: Tensor) => [mul(ct, 0)],
 * );
 * assertEquals(await grad((x: Tensor) => mul(clipGrad(x), 3))(tensor(1)).item(), 0);
 * ```
 */
export function customVjp<F extends (...args: never[]) => unknown, R>(
  f: F,
  fwd: (...args: Parameters<F>) => [ReturnType<F>, R],
  bwd: (residuals: R, ct: Cotangent<ReturnType<F>>) => unknown[],
): F {
  checkFn("customVjp", f);
  checkFn("customVjp", fwd);
  checkFn("customVjp", bwd);
  const g = (...args: Parameters<F>): ReturnType<F> => {
    const batched = batchedCustomVjp(
      args,
      f,
      fwd,
      bwd as never,
      customVjp as unknown as CustomVjpFn,
    );
    if (batched) return batched.out as ReturnType<F>;
    const call = underJvp(args);
    if (!call) return loose(f)(...args) as ReturnType<F>;
    const { trace, def, leaves, ps, ts } = call;
    const lin = trace.linear;
    if (!lin) {
      throw new TypeError(
        "customVjp: forward-mode differentiation (jvp) of a customVjp function is not supported; use customJvp",
      );
    }
    const linIdx = ts.flatMap((t, i) => (t ? [i] : []));
    const [y, res] = fwd(...treeUnflatten<Parameters<F>>(def, ps));
    const [yLeaves, yDef] = treeFlatten(y);
    const yTs = yLeaves.map((l) => toTensor("customVjp", l));
    return treeUnflatten(
      yDef,
      yTs.map((yk, k) => {
        if (yk.dtype !== "float32") return yk;
        const bwdK = (ct: unknown): (Tensor | null)[] => {
          const full = yTs.map((q, j) => (j === k ? ct : zerosFor(q)));
          const cts = bwd(res, treeUnflatten(yDef, full));
          const [cLeaves] = treeFlatten(cts);
          if (cLeaves.length !== leaves.length) {
            throw new TypeError(
              `customVjp: bwd returned ${cLeaves.length} cotangent leaves for ${leaves.length} inputs`,
            );
          }
          return linIdx.map((i) => toTensor("customVjp", cLeaves[i]!));
        };
        const tOut = lin.recordCustom(
          linIdx.map((i) => ts[i]!),
          { bwd: bwdK },
          yk,
        );
        return trace.pack(yk, tOut);
      }),
    );
  };
  return g as F;
}
