// Building one fused kernel's expression: values of the kernel's own group
// and of copied groups become op nodes, views become strided loads of
// their source buffers, literals become literal nodes, and everything
// else is a load of a kernel input. Private to ops/jit/passes/.

import type { FusedKernel, FusedNode } from "../../backends/fused.ts";
import type { ElementwisePrimitive, Params } from "../../primitives.ts";
import type { KernelStep } from "../plan.ts";
import type { Atom, Eqn, Var } from "../program.ts";
import type { Analysis } from "./fuse.ts";
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
  readonly #own: number;
  readonly #memo = new Map<string, number>();
  readonly #inputIndex = new Map<Var, number>();

  /** A kernel of `rank` iteration axes that computes group `own` (-1: none). */
  constructor(a: Analysis, rank: number, own: number) {
    this.#a = a;
    this.#rank = rank;
    this.#own = own;
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
      return view.src.kind === "var" && reshaped(view)
        ? this.#load(view.src, view.srcShape, m)
        : this.value(view.src, m);
    }
    const shape = x.aval.shape;
    const m = map.map((d, k) => (shape[k] === 1 ? -1 : d));
    const i = a.producer.get(x);
    const e = i === undefined ? undefined : a.program.eqns[i]!;
    if (!e || !fusible(e)) return this.#load(x, shape, m);
    const g = a.groups.groupOf(i!);
    if (g !== this.#own && !a.copied.has(g)) return this.#load(x, shape, m);
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
