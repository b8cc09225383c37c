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

/** A set of equation indices as bits (the groups a value depends on). */
type Bits = Uint32Array;

function has(b: Bits, i: number): boolean {
  return (b[i >>> 5]! & (1 << (i & 31))) !== 0;
}

/**
 * Groups the fusible equations of `p`: each joins the groups of its
 * same-shape fusible producers when that keeps the group graph acyclic
 * (no path leaves the merged group and comes back), else starts its own.
 * `producer` maps each defined variable to its equation's index.
 */
export function groupElementwise(
  p: Program,
  producer: ReadonlyMap<Var, number>,
): Groups {
  const n = p.eqns.length;
  const words = (n + 31) >>> 5;
  const empty: Bits = new Uint32Array(words);
  const parent = new Int32Array(n).map((_, i) => i);
  const find = (i: number): number => {
    while (parent[i] !== i) i = parent[i] = parent[parent[i]!]!;
    return i;
  };
  // anc(v): every equation of a fusible group that v depends on (its own included).
  const anc = new Map<Var, Bits>();
  const ancOf = (v: Var): Bits => anc.get(v) ?? empty;
  const members = new Map<number, number[]>();
  const externals = new Map<number, Var[]>();
  const fusibleAt = (v: Var): number | undefined => {
    const i = producer.get(v);
    return i !== undefined && fusible(p.eqns[i]!) ? i : undefined;
  };

  p.eqns.forEach((e, i) => {
    const bits = new Uint32Array(words);
    for (const a of e.inputs) {
      if (a.kind !== "var") continue;
      const b = ancOf(a);
      for (let w = 0; w < words; w++) bits[w]! |= b[w]!;
    }
    if (!fusible(e)) {
      for (const v of e.outs) anc.set(v, bits);
      return;
    }
    bits[i >>> 5]! |= 1 << (i & 31);
    const out = e.outs[0]!;
    anc.set(out, bits);
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
      const ids = [i, ...gs.flatMap((g) => members.get(g)!)];
      const inside = (v: Var): boolean => {
        const j = fusibleAt(v);
        return j !== undefined && (j === i || gs.includes(find(j)));
      };
      const outside = [...vars, ...gs.flatMap((g) => externals.get(g)!)]
        .filter((v) => !inside(v));
      return outside.every((v) => {
        const b = ancOf(v);
        return ids.every((id) => !has(b, id));
      });
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
    const inGroup = (v: Var): boolean => {
      const j = fusibleAt(v);
      return j !== undefined && find(j) === i;
    };
    members.set(i, ids.sort((a, b) => a - b));
    externals.set(i, [...new Set(ext.filter((v) => !inGroup(v)))]);
  });
  return { groupOf: find, members };
}
