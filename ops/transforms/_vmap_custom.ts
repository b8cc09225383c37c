/**
 * Custom rules under `vmap`: when the innermost transform among a custom
 * function's arguments is a vmap level, the function, its rule and (for
 * `customVjp`) its `fwd`/`bwd` are vmapped together and called on the
 * batched values one level down, so a `jvp`/`grad` under the vmap still
 * sees the custom rule (`grad(vmap(customVjp(...)))`), as JAX batches a
 * `custom_vjp_call`. Private to `ops/transforms/` (used by `custom.ts`).
 *
 * @module
 */

import { bind, type MainTrace } from "../core.ts";
import { type Tensor, Tracer } from "../tensor.ts";
import { BatchTrace, BatchTracer } from "../batching.ts";
import { moveAxis } from "../_batch_axes.ts";
import { type Leaf, treeFlatten, treeUnflatten } from "../pytree.ts";
import { type AxisSpec, vmap } from "./vmap.ts";
import { loose } from "./_common.ts";
import type { AnyFn } from "./types.ts";

/**
 * `customJvp` and `customVjp` themselves, passed in by `custom.ts` (which
 * calls this file first): importing them here would make a module cycle.
 */
export type CustomJvpFn = (f: AnyFn, rule: AnyFn) => AnyFn;
/** See {@link CustomJvpFn}. */
export type CustomVjpFn = (f: AnyFn, fwd: AnyFn, bwd: AnyFn) => AnyFn;

/** A custom function's call under a vmap level: its arguments one level down. */
interface BatchCall {
  readonly level: MainTrace;
  /** The arguments with this level's tracers unwrapped. */
  readonly vals: unknown[];
  /** Per argument, its leaves' batch axes (`null`: not batched here). */
  readonly inAxes: AxisSpec[];
  /** The batch axis of each flat argument leaf. */
  readonly leafAxes: (number | null)[];
}

/** Splits `args` at the innermost vmap level, or `null` when that is not the innermost level. */
function underBatch(args: readonly unknown[]): BatchCall | null {
  const [leaves, def] = treeFlatten(args);
  let top: MainTrace | null = null;
  for (const l of leaves) {
    if (l instanceof Tracer) {
      const m = l.main as MainTrace;
      if (!top || m.level > top.level) top = m;
    }
  }
  if (!top || !(top.trace instanceof BatchTrace)) return null;
  const level = top;
  const leafAxes = leaves.map((l) =>
    l instanceof BatchTracer && l.main === level ? l.bdim : null
  );
  const vals = leaves.map((l) =>
    l instanceof BatchTracer && l.main === level ? l.val : l
  );
  return {
    level,
    vals: treeUnflatten<unknown[]>(def, vals),
    inAxes: treeUnflatten<AxisSpec[]>(def, leafAxes),
    leafAxes,
  };
}

/** Wraps outputs batched along axis 0 as tracers of the call's level. */
function wrap(call: BatchCall, out: unknown): unknown {
  const [leaves, def] = treeFlatten(out);
  return treeUnflatten(
    def,
    leaves.map((l) => new BatchTracer(call.level, l as Tensor, 0)),
  );
}

/**
 * `customJvp(f, rule)` applied to `args` when the innermost level is a
 * vmap: `{ out }`, else `null` (the caller goes on as usual).
 */
export function batchedCustomJvp(
  args: readonly unknown[],
  f: AnyFn,
  rule: AnyFn,
  customJvp: CustomJvpFn,
): { out: unknown } | null {
  const call = underBatch(args);
  if (!call) return null;
  const { inAxes } = call;
  const g = loose(customJvp(
    vmap(loose(f), { inAxes }) as (...a: unknown[]) => unknown,
    (ps: unknown[], ts: unknown[]) =>
      vmap(loose(rule), { inAxes: [inAxes, inAxes] })(ps, ts) as [
        unknown,
        never,
      ],
  ));
  return { out: wrap(call, g(...call.vals)) };
}

/**
 * `customVjp(f, fwd, bwd)` applied to `args` when the innermost level is a
 * vmap: `{ out }`, else `null`. The batched `bwd` gives each argument its
 * cotangent batched as the argument is, summed over the batch where the
 * argument is shared.
 */
export function batchedCustomVjp(
  args: readonly unknown[],
  f: AnyFn,
  fwd: AnyFn,
  bwd: (res: unknown, ct: unknown) => unknown[],
  customVjp: CustomVjpFn,
): { out: unknown } | null {
  const call = underBatch(args);
  if (!call) return null;
  const { inAxes, leafAxes } = call;
  const g = loose(customVjp(
    vmap(loose(f), { inAxes }) as (...a: unknown[]) => unknown,
    vmap(loose(fwd), { inAxes }) as (...a: unknown[]) => [unknown, unknown],
    (res: unknown, ct: unknown) => {
      const cts = loose(vmap(bwd as AnyFn, { inAxes: [0, 0] }))(res, ct);
      const [leaves, def] = treeFlatten(cts);
      return treeUnflatten<unknown[]>(
        def,
        leaves.map((c: Leaf, i) => {
          const d = leafAxes[i] ?? null;
          const t = c as Tensor;
          return d === null
            ? bind("reduce_sum", [t], { axes: [0] })
            : moveAxis(t, 0, d);
        }),
      );
    },
  ));
  return { out: wrap(call, g(...call.vals)) };
}
