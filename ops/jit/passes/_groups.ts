// The first step of fusion: maximal groups of elementwise equations of one
// shape, joined along producer-consumer edges, that never form a cycle
// with the rest of the program. Private to ops/jit/passes/.

import { sameShape, sizeOf } from "../../dtype.ts";
import { ELEMENTWISE_PRIMITIVES, type Primitive } from "../../primitives.ts";
import type { Eqn, Program, Var } from "../program.ts";

const ELEMENTWISE = new Set<Primitive>(ELEMENTWISE_PRIMITIVES);

/** Whether the fusion pass may put `e` in a fused group. */
export function fusible(e: Eqn): boolean {
  return ELEMENTWISE.has(e.prim) && e.outs.length === 1 &&
    sizeOf(e.outs[0]!.aval.shape) > 0;
}

/** The elementwise groups of a program. */
export interface Groups {
  /** The group of each fusible equation (by index), as a representative index. */
  groupOf(eqn: number): number;
  /** The members of each group (equation indices, ascending), by representative. */
  readonly members: ReadonlyMap<number, readonly number[]>;
}

/**
 * Groups the fusible equations of `p`: each joins the groups of its
 * same-shape fusible producers when that keeps the graph of groups and
 * other equations acyclic (no path leaves the merged group and comes
 * back), else starts its own. `producer` maps each defined variable to its
 * equation's index.
 */
export function groupElementwise(
  p: Program,
  producer: ReadonlyMap<Var, number>,
): Groups {
  const n = p.eqns.length;
  const parent = new Int32Array(n).map((_, i) => i);
  const find = (i: number): number => {
    while (parent[i] !== i) i = parent[i] = parent[parent[i]!]!;
    return i;
  };
  const members = new Map<number, number[]>();
  const externals = new Map<number, Var[]>();
  const fusibleAt = (v: Var): number | undefined => {
    const i = producer.get(v);
    return i !== undefined && fusible(p.eqns[i]!) ? i : undefined;
  };
  /** The node that computes `v`: its group's representative, or its equation; -1 for inputs. */
  const nodeOf = (v: Var): number => {
    const i = producer.get(v);
    if (i === undefined) return -1;
    return fusible(p.eqns[i]!) ? find(i) : i;
  };
  /** The variables a node reads from outside it. */
  const reads = (node: number): readonly Var[] =>
    externals.get(node) ??
      p.eqns[node]!.inputs.filter((a): a is Var => a.kind === "var");
  /** The last equation of a node: nothing before it depends on it. */
  const lastOf = (node: number): number => {
    const m = members.get(node);
    return m ? m[m.length - 1]! : node;
  };

  /**
   * Whether some variable of `from` (outside the merged nodes `merged`)
   * depends on one of them: merging would then make a cycle.
   */
  const reaches = (from: readonly Var[], merged: ReadonlySet<number>) => {
    let first = Infinity;
    for (const g of merged) first = Math.min(first, members.get(g)?.[0] ?? g);
    const seen = new Set<number>();
    const stack = from.map(nodeOf);
    while (stack.length > 0) {
      const node = stack.pop()!;
      if (node < 0 || seen.has(node) || lastOf(node) < first) continue;
      if (merged.has(node)) return true;
      seen.add(node);
      for (const v of reads(node)) stack.push(nodeOf(v));
    }
    return false;
  };

  p.eqns.forEach((e, i) => {
    if (!fusible(e)) return;
    const out = e.outs[0]!;
    const vars = e.inputs.filter((a): a is Var => a.kind === "var");
    // Candidate groups: those of same-shape fusible producers, latest first.
    const cands: number[] = [];
    for (const v of [...vars].reverse()) {
      const j = fusibleAt(v);
      if (j === undefined || !sameShape(v.aval.shape, out.aval.shape)) continue;
      const g = find(j);
      if (!cands.includes(g)) cands.push(g);
    }
    const legal = (gs: readonly number[]): boolean => {
      const merged = new Set(gs);
      const outside = [...vars, ...gs.flatMap((g) => externals.get(g)!)]
        .filter((v) => !merged.has(nodeOf(v)));
      return !reaches(outside, merged);
    };
    let chosen: number[] = [];
    if (cands.length > 0 && legal(cands)) chosen = cands;
    else {
      const one = cands.find((g) => legal([g]));
      if (one !== undefined) chosen = [one];
    }
    const ids = [i, ...chosen.flatMap((g) => members.get(g)!)];
    const ext = [...vars, ...chosen.flatMap((g) => externals.get(g)!)];
    for (const g of chosen) {
      parent[g] = i;
      members.delete(g);
      externals.delete(g);
    }
    members.set(i, ids.sort((a, b) => a - b));
    externals.set(i, [...new Set(ext.filter((v) => nodeOf(v) !== i))]);
  });
  return { groupOf: find, members };
}
