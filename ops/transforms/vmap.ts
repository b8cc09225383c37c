/**
 * `vmap`: vectorising map. A function written for one example runs on a
 * batch at once, as `jax.vmap`: the batch axis is carried through every
 * primitive by its batching rule (`ops/batching.ts`), so the batched
 * function runs as whole-batch kernels, not as a loop.
 *
 * @module
 */

import { fmtShape } from "../dtype.ts";
import { bind, withMain } from "../core.ts";
import { Tensor } from "../tensor.ts";
import { Key } from "../random_key.ts";
import { BatchTrace, BatchTracer } from "../batching.ts";
import { moveAxis } from "../_batch_axes.ts";
import { checkOptions } from "../_options.ts";
import { treeFlatten, treeUnflatten } from "../pytree.ts";
import { checkFn, loose, toTensor } from "./_common.ts";
import type { AnyFn, Cotangent } from "./types.ts";

/**
 * Which axis of a value is mapped: a number (negative counts from the
 * end), `null` (not mapped: the same for every example), or a pytree prefix
 * of the value (arrays and plain objects) whose leaves say so per part.
 */
export type AxisSpec =
  | number
  | null
  | readonly AxisSpec[]
  | { readonly [key: string]: AxisSpec };

/** Options of {@link vmap}. */
export interface VmapOptions {
  /**
   * The mapped axis of the arguments: one spec for all of them, or an array
   * with one spec per argument (each a prefix of that argument). Default 0.
   */
  readonly inAxes?: AxisSpec;
  /**
   * Where the batch axis goes in the outputs: one spec for the whole
   * output, or a prefix of its structure; `null` for an output that is
   * the same for every example. Default 0.
   */
  readonly outAxes?: AxisSpec;
}

const VMAP_OPTIONS = ["inAxes", "outAxes"] as const;

/** A leaf of a pytree with its path, for error messages. */
interface PathLeaf {
  readonly path: string;
  readonly value: Tensor | number;
  readonly axis: number | null;
}

function isPlainObject(x: unknown): x is Record<string, unknown> {
  if (x === null || typeof x !== "object") return false;
  const proto = Object.getPrototypeOf(x);
  return proto === Object.prototype || proto === null;
}

/** A value's kind, for errors about specs that do not match it. */
function describe(x: unknown): string {
  if (x instanceof Tensor) return `a tensor ${x.dtype}${fmtShape(x.shape)}`;
  if (Array.isArray(x)) return `an array of ${x.length}`;
  if (isPlainObject(x)) return `an object {${Object.keys(x).join(", ")}}`;
  return x === null ? "null" : `a ${typeof x}`;
}

/** Throws unless `spec` is a well-formed {@link AxisSpec}. */
function checkSpec(what: string, spec: unknown, path: string): void {
  if (spec === null) return;
  if (typeof spec === "number") {
    if (!Number.isInteger(spec)) {
      throw new TypeError(
        `vmap: ${what}${path} must be an integer axis or null, got ${spec}`,
      );
    }
    return;
  }
  if (Array.isArray(spec)) {
    spec.forEach((s, i) => checkSpec(what, s, `${path}[${i}]`));
    return;
  }
  if (isPlainObject(spec)) {
    for (const k of Object.keys(spec)) checkSpec(what, spec[k], `${path}.${k}`);
    return;
  }
  throw new TypeError(
    `vmap: ${what}${path} must be a number, null, an array or an object, got ${
      describe(spec)
    }`,
  );
}

/**
 * The leaves of `tree` (in `treeFlatten`'s order) with the axis that the
 * prefix `spec` gives each; `what` and `path` name them in errors.
 */
function specLeaves(
  what: string,
  spec: AxisSpec,
  tree: unknown,
  path: string,
  out: PathLeaf[] = [],
): PathLeaf[] {
  if (tree instanceof Tensor || typeof tree === "number") {
    if (spec !== null && typeof spec !== "number") {
      throw new TypeError(
        `vmap: ${what} has ${describe(spec)} at ${path}, where the value is ${
          describe(tree)
        }`,
      );
    }
    out.push({ path, value: tree, axis: spec });
    return out;
  }
  const expand = spec === null || typeof spec === "number";
  if (Array.isArray(tree)) {
    if (!expand && (!Array.isArray(spec) || spec.length !== tree.length)) {
      throw new TypeError(
        `vmap: ${what} has ${describe(spec)} at ${path}, where the value is ${
          describe(tree)
        }`,
      );
    }
    tree.forEach((t, i) =>
      specLeaves(
        what,
        expand ? spec : (spec as readonly AxisSpec[])[i]!,
        t,
        `${path}[${i}]`,
        out,
      )
    );
    return out;
  }
  if (isPlainObject(tree)) {
    const keys = Object.keys(tree);
    const s = spec as { readonly [key: string]: AxisSpec };
    if (
      !expand && (Array.isArray(spec) || !isPlainObject(spec) ||
        Object.keys(s).length !== keys.length || keys.some((k) => !(k in s)))
    ) {
      throw new TypeError(
        `vmap: ${what} has ${describe(spec)} at ${path}, where the value is ${
          describe(tree)
        }`,
      );
    }
    for (const k of keys) {
      specLeaves(what, expand ? spec : s[k]!, tree[k], `${path}.${k}`, out);
    }
  }
  if (what === "inAxes" && tree instanceof Key && spec !== null) {
    throw new TypeError(
      `vmap: inAxes maps ${path}, a PRNG key: keys are host values and cannot be batched; give it inAxes null and draw the batch's samples with it outside vmap (or split it there and pass the samples in)`,
    );
  }
  return out; // anything else is a static part: no leaves
}

/** A mapped axis made non-negative for a value of rank `rank`. */
function normalize(
  what: string,
  axis: number,
  rank: number,
  desc: string,
): number {
  if (axis < -rank || axis >= rank) {
    throw new RangeError(
      `vmap: ${what} ${axis} is out of range for ${desc} (rank ${rank})`,
    );
  }
  return axis < 0 ? axis + rank : axis;
}

/** The batch size that the mapped argument leaves agree on. */
function batchSize(leaves: readonly PathLeaf[]): [number, number[]] {
  const mapped: { desc: string; axis: number; n: number }[] = [];
  const axes = leaves.map((l) => {
    if (l.axis === null) return -1;
    if (!(l.value instanceof Tensor)) {
      throw new RangeError(
        `vmap: inAxes maps ${l.path} along axis ${l.axis}, but it is a number (rank 0); give it inAxes null`,
      );
    }
    const desc = `${l.path} (${l.value.dtype}${fmtShape(l.value.shape)})`;
    const a = normalize("inAxes", l.axis, l.value.ndim, desc);
    mapped.push({ desc, axis: a, n: l.value.shape[a]! });
    return a;
  });
  if (mapped.length === 0) {
    throw new TypeError(
      "vmap: no argument is mapped (every inAxes entry is null), so the batch size is unknown",
    );
  }
  if (mapped.some((m) => m.n !== mapped[0]!.n)) {
    throw new TypeError(
      `vmap: mapped axes have different sizes: ${
        mapped.map((m) => `${m.desc} axis ${m.axis} has ${m.n}`).join(", ")
      }`,
    );
  }
  return [mapped[0]!.n, axes];
}

/**
 * Vectorises `f` over a batch axis, as `jax.vmap`: `vmap(f)(xs)` equals
 * stacking `f(x)` over the slices `x` of `xs` along axis 0, computed by
 * whole-batch primitives. `inAxes` picks the mapped axis of each argument
 * (`null`: shared by all examples), `outAxes` where the batch axis goes in
 * the result (number leaves of the result become tensors). It composes with every transform both ways:
 * `vmap(grad(f))` gives per-example gradients, and `grad`, `jvp`, `jit`
 * and `vmap` itself apply to a vmapped function.
 *
 * Randomness inside `f` is not batched: keys are host values, so every
 * example draws the same numbers from a key passed with `inAxes` null,
 * and mapping a key (or an array of keys) is an error; draw the samples
 * outside and map over them.
 *
 * @example Per-example gradients
 * ```ts
 * import { grad, mul, sum, tensor, vmap, type Tensor } from "@heed/heed";
 * import { assertEquals } from "@std/assert";
 *
 * // loss(w, x) = Σᵢ (wᵢxᵢ)²; its gradient in w is 2·w·x·x, per example x.
 * const loss = (w: Tensor, x: Tensor) => sum(mul(mul(w, x), mul(w, x)));
 * const perExample = vmap(grad(loss), { inAxes: [null, 0] });
 * const g = perExample(tensor([1, 2]), tensor([[1, 1], [0, 1]]));
 * assertEquals(await g.array(), [[2, 4], [0, 4]]);
 * ```
 *
 * @example Axes in and out
 * ```ts
 * import { add, tensor, vmap, type Tensor } from "@heed/heed";
 * import { assertEquals } from "@std/assert";
 *
 * const f = vmap((x: Tensor, y: Tensor) => add(x, y), {
 *   inAxes: [-1, null],
 *   outAxes: 1,
 * });
 * const out = f(tensor([[1, 2], [3, 4]]), tensor([10, 20]));
 * assertEquals(await out.array(), [[11, 12], [23, 24]]);
 * ```
 */
export function vmap<F extends AnyFn>(
  f: F,
  opts?: VmapOptions,
): (...args: Parameters<F>) => Cotangent<ReturnType<F>> {
  checkFn("vmap", f);
  checkOptions("vmap", opts, VMAP_OPTIONS);
  const inAxes = opts?.inAxes === undefined ? 0 : opts.inAxes;
  const outAxes = opts?.outAxes === undefined ? 0 : opts.outAxes;
  checkSpec("inAxes", inAxes, "");
  checkSpec("outAxes", outAxes, "");
  if (isPlainObject(inAxes)) {
    throw new TypeError(
      `vmap: inAxes must be a number, null or an array with one entry per argument, got ${
        describe(inAxes)
      }`,
    );
  }
  return (...args: Parameters<F>): Cotangent<ReturnType<F>> => {
    if (Array.isArray(inAxes) && inAxes.length !== args.length) {
      throw new TypeError(
        `vmap: inAxes has ${inAxes.length} entries for ${args.length} argument(s)`,
      );
    }
    const leaves = specLeaves("inAxes", inAxes, args, "args");
    const [size, axes] = batchSize(leaves);
    const [, def] = treeFlatten(args);
    return withMain((m) => new BatchTrace(m, size), (main) => {
      const ins = leaves.map((l, i) =>
        axes[i]! < 0
          ? l.value
          : new BatchTracer(main, l.value as Tensor, axes[i]!)
      );
      const out = loose(f)(...treeUnflatten<unknown[]>(def, ins));
      const [, outDef] = treeFlatten(out);
      const outs = specLeaves("outAxes", outAxes, out, "output").map((l) => {
        const t = toTensor("vmap", l.value);
        const [v, d] = t instanceof BatchTracer && t.main === main
          ? [t.val, t.bdim]
          : [t, null];
        if (l.axis === null) {
          if (d !== null) {
            throw new TypeError(
              `vmap: outAxes is null at ${l.path}, but that output differs between examples`,
            );
          }
          return v;
        }
        const a = normalize(
          "outAxes",
          l.axis,
          t.ndim + 1,
          `${l.path} (${t.dtype}${fmtShape(t.shape)} per example)`,
        );
        if (d !== null) return moveAxis(v, d, a);
        return bind("broadcast_in_dim", [v], {
          shape: [...v.shape.slice(0, a), size, ...v.shape.slice(a)],
          dims: v.shape.map((_, i) => (i < a ? i : i + 1)),
        });
      });
      return treeUnflatten<Cotangent<ReturnType<F>>>(outDef, outs);
    });
  };
}
