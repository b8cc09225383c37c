// Building one fused kernel's expression: values of the kernel's own group
// and of copied groups become op nodes, views become strided loads of
// their source buffers, literals become literal nodes, and everything
// else is a load of a kernel input. Private to ops/jit/passes/.

import type { FusedKernel, FusedNode } from "../../backends/fused.ts";
import type { ElementwisePrimitive, Params } from "../../primitives.ts";
import type { KernelStep } from "../plan.ts";
import type { Atom, Eqn, Var } from "../program.ts";
import type { Analysis } from "./_analysis.ts";
import { fusible } from "./_groups.ts";
import {
  type AxisMap,
  broadcastMap,
  composeMaps,
  loadStrides,
  mapKey,
  reshaped,
} from "./_views.ts";

/** A literal's key: `-0` apart from `0`. */
function numberKey(v: number): string {
  return Object.is(v, -0) ? "-0" : String(v);
}

/** A reduction of the kernel being built: its index and how the iteration reads it. */
export interface Reduced {
  /** The reduction's index in the kernel. */
  readonly index: number;
  /** Its result's strides over the iteration (0 on reduced axes). */
  readonly strides: readonly number[];
}

/** Thrown when a kernel cannot read a value as asked (the caller keeps kernels apart). */
export class NotFusible extends Error {}

/** Builds the nodes of one kernel in SSA order, sharing equal nodes. */
export class KernelBuilder {
  /** The nodes so far. */
  readonly nodes: FusedNode[] = [];
  /** The variable behind each kernel input. */
  readonly inputs: Var[] = [];
  /** The equations the nodes stand for. */
  readonly eqns: Set<Eqn> = new Set();
  readonly #a: Analysis;
  readonly #rank: number;
  readonly #iter: readonly number[];
  readonly #own: ReadonlySet<number>;
  readonly #reduced: ReadonlyMap<Var, Reduced>;
  readonly #memo = new Map<string, number>();
  readonly #inputIndex = new Map<Var, number>();

  /**
   * A kernel over iteration shape `iter` that computes groups `own`; the
   * results of its own reductions (`reduced`) are read as `reduced` nodes.
   */
  constructor(
    a: Analysis,
    iter: readonly number[],
    own: ReadonlySet<number>,
    reduced: ReadonlyMap<Var, Reduced> = new Map(),
  ) {
    this.#a = a;
    this.#iter = iter;
    this.#rank = iter.length;
    this.#own = own;
    this.#reduced = reduced;
  }

  #push(key: string, make: () => FusedNode): number {
    const have = this.#memo.get(key);
    if (have !== undefined) return have;
    const node = make(); // may push the nodes it uses first
    this.nodes.push(node);
    this.#memo.set(key, this.nodes.length - 1);
    return this.nodes.length - 1;
  }

  #load(v: Var, shape: readonly number[], map: AxisMap): number {
    // A value this kernel computes cannot also be one of its inputs.
    const i = this.#a.producer.get(v);
    const e = i === undefined ? undefined : this.#a.program.eqns[i]!;
    if (
      this.#reduced.has(v) ||
      (e && fusible(e) && this.#own.has(this.#a.groups.groupOf(i!)))
    ) throw new NotFusible();
    let input = this.#inputIndex.get(v);
    if (input === undefined) {
      input = this.inputs.push(v) - 1;
      this.#inputIndex.set(v, input);
    }
    const strides = loadStrides(shape, map, this.#rank);
    return this.#push(`load ${input} ${strides}`, () => ({
      kind: "load",
      input,
      offset: 0,
      strides,
      dtype: v.aval.dtype,
    }));
  }

  /** Reduction `v`'s node, if `map` reads it at its own output element. */
  #reducedNode(v: Var, shape: readonly number[], map: AxisMap): number {
    const r = this.#reduced.get(v)!;
    const got = loadStrides(shape, map, this.#rank);
    const want = r.strides;
    if (got.some((st, d) => st !== want[d] && this.#iter[d] !== 1)) {
      throw new NotFusible(); // transposed, say
    }
    return this.#push(`reduced ${r.index}`, () => ({
      kind: "reduced",
      index: r.index,
      dtype: v.aval.dtype,
    }));
  }

  /**
   * The node of `x` read through `map` (its axes to the iteration's):
   * computed here if its group is this kernel's or a copied one, else
   * loaded.
   */
  value(x: Atom, map: AxisMap): number {
    if (x.kind === "literal") {
      const { value } = x, dtype = x.aval.dtype;
      return this.#push(`literal ${dtype} ${numberKey(value)}`, () => ({
        kind: "literal",
        value,
        dtype,
      }));
    }
    const a = this.#a;
    const view = a.views.get(x);
    if (view) {
      for (const e of view.eqns) this.eqns.add(e);
      const m = composeMaps(view.map, map);
      if (view.src.kind === "var" && this.#reduced.has(view.src)) {
        return this.#reducedNode(view.src, view.srcShape, m);
      }
      return view.src.kind === "var" && reshaped(view)
        ? this.#load(view.src, view.srcShape, m)
        : this.value(view.src, m);
    }
    const shape = x.aval.shape;
    const m = map.map((d, k) => (shape[k] === 1 ? -1 : d));
    if (this.#reduced.has(x)) return this.#reducedNode(x, shape, m);
    const i = a.producer.get(x);
    const e = i === undefined ? undefined : a.program.eqns[i]!;
    if (!e || !fusible(e)) return this.#load(x, shape, m);
    const g = a.groups.groupOf(i!);
    if (!this.#own.has(g) && !a.copied.has(g)) return this.#load(x, shape, m);
    return this.#push(`op ${x.id} ${mapKey(m)}`, () => {
      this.eqns.add(e);
      const args = e.inputs.map((u) =>
        this.value(u, composeMaps(broadcastMap(u.aval.shape, shape), m))
      );
      const prim = e.prim as ElementwisePrimitive;
      return {
        kind: "op",
        prim,
        params: e.params as Params<ElementwisePrimitive>,
        args,
        dtype: x.aval.dtype,
      };
    });
  }

  /** The step of `kernel`, defining `outputs`, with its equations in program order. */
  step(
    kernel: FusedKernel,
    outputs: readonly Var[],
    index: ReadonlyMap<Eqn, number>,
  ): KernelStep {
    const eqns = [...this.eqns].sort((x, y) => index.get(x)! - index.get(y)!);
    return Object.freeze({
      kind: "kernel",
      kernel,
      inputs: Object.freeze([...this.inputs]),
      outputs: Object.freeze([...outputs]),
      eqns: Object.freeze(eqns),
    });
  }
}
