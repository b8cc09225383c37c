// Reductions over one iteration space in one kernel: after the plan's
// steps are made, related reduce steps of equal iteration shape and axes
// (one reads the other through steps that do not read only the program's
// inputs, or both read one variable as large as the iteration space) join
// one reduce kernel (later ones read earlier ones through `reduced` nodes:
// softmax's max then sum of exp(x - max), layer norm's mean then variance),
// together with the small elementwise steps over the reduced shape between
// and after them (`rsqrt(var + eps)`, `log(sum) + max`), which become
// values computed per output element and written as epilogue outputs.
// A merge is made only when no path leaves the merged steps and comes
// back, every family already made counting as one step (the plan stays
// acyclic). Private to ops/jit/passes/.

import { sizeOf } from "../../dtype.ts";
import type { FusedEpilogue, FusedKernel } from "../../backends/fused.ts";
import type { Params } from "../../primitives.ts";
import {
  type KernelStep,
  type Step,
  stepInputs,
  stepOutputs,
} from "../plan.ts";
import type { Eqn, Var } from "../program.ts";
import type { Analysis } from "./_analysis.ts";
import { KernelBuilder, NotFusible, type Reduced } from "./_kernel.ts";
import { identityMap } from "./_views.ts";
import { stepGraph } from "./_order.ts";

const REDUCE_OPS = {
  reduce_sum: "sum",
  reduce_max: "max",
  reduce_min: "min",
} as const;
type ReducePrimitive = keyof typeof REDUCE_OPS;

/** A reduction a step computes: its equation, iteration shape and axes. */
interface Reduction {
  readonly eqn: Eqn;
  readonly shape: readonly number[];
  readonly axes: readonly number[];
  readonly key: string;
}

const nonUnit = (s: readonly number[]) => s.filter((n) => n !== 1).join(",");

/** The reduction step `s` computes, if it is one (a reduce kernel or a plain reduce). */
function reductionOf(a: Analysis, s: Step): Reduction | null {
  const out = stepOutputs(s)[0];
  const i = out && a.producer.get(out);
  if (i === undefined) return null;
  const e = a.program.eqns[i]!;
  if (!(e.prim in REDUCE_OPS)) return null;
  if (s.kind === "kernel" && s.kernel.kind !== "reduce") return null;
  const x = e.inputs[0]!;
  const raw = (e.params as Params<ReducePrimitive>).axes;
  const axes = [...new Set(raw)].sort((p, q) => p - q);
  if (x.kind !== "var" || axes.length === 0 || sizeOf(x.aval.shape) === 0) {
    return null;
  }
  const shape = x.aval.shape;
  return { eqn: e, shape, axes, key: `${shape}|${axes}` };
}

/** The reduced shape (without unit axes) of a key's reductions. */
function keptOf(r: Reduction): string {
  return nonUnit(r.shape.filter((_, d) => !r.axes.includes(d)));
}

/** A family: reduce steps of one key and the epilogue steps merged with them. */
interface Family {
  readonly head: Reduction;
  readonly reductions: number[]; // step indices
  readonly epilogues: number[]; // step indices
}

/**
 * `steps` with reduce steps of one iteration space merged into one kernel
 * each, with the small elementwise steps over their reduced shape.
 */
export function mergeReductions(
  a: Analysis,
  steps: readonly Step[],
  outputs: ReadonlySet<Var>,
  index: ReadonlyMap<Eqn, number>,
): Step[] {
  const n = steps.length;
  const { definedBy, preds } = stepGraph(steps);
  const succs: number[][] = steps.map(() => []);
  preds.forEach((ps, i) => ps.forEach((p) => succs[p]!.push(i)));
  /** The steps `from` reaches along `next` (only through `within`, if given). */
  const reach = (
    from: Iterable<number>,
    next: readonly (readonly number[])[],
    within?: ReadonlySet<number>,
  ): Set<number> => {
    const seen = new Set<number>();
    const stack = [...from];
    while (stack.length) {
      const i = stack.pop()!;
      for (const j of next[i]!) {
        if (seen.has(j) || (within && !within.has(j))) continue;
        seen.add(j);
        stack.push(j);
      }
    }
    return seen;
  };
  const reductions = steps.map((s) => reductionOf(a, s));
  // Steps that read only the program's inputs and constants (a reduction of
  // the labels' one-hot): reading one does not relate two reductions, or
  // every member of an ensemble would join one family through it.
  const given = new Set<Var>([...a.program.inputs, ...a.program.consts]);
  const fixedMemo = new Map<number, boolean>();
  const fixed = (i: number): boolean => {
    let f = fixedMemo.get(i);
    if (f === undefined) {
      fixedMemo.set(i, false); // a cycle (none in a plan) reads as not fixed
      f = stepInputs(steps[i]!).every((v) => {
        if (given.has(v)) return true;
        const d = definedBy.get(v);
        return d !== undefined && fixed(d);
      });
      fixedMemo.set(i, f);
    }
    return f;
  };
  /** An elementwise kernel step over `r`'s reduced shape. */
  const epilogueFor = (i: number, r: Reduction): boolean => {
    const s = steps[i]!;
    return s.kind === "kernel" && s.kernel.kind === "elementwise" &&
      nonUnit(s.kernel.shape) === keptOf(r);
  };
  const built = new Map<Family, KernelStep>();
  const tryBuild = (f: Family): KernelStep | null => {
    try {
      return familyStep(a, steps, f, reductions, succs, outputs, index);
    } catch (e) {
      if (e instanceof NotFusible) return null;
      throw e;
    }
  };
  const families: Family[] = [];
  const familyOf = new Map<number, Family>();
  const members = (f: Family) => new Set([...f.reductions, ...f.epilogues]);
  /**
   * No path leaves `m` and comes back, in the plan as it will run: every
   * other family is one step, so a path that reaches one of its members
   * goes on from all of them (two families, each convex alone, can still
   * read each other: {a1, b2} and {b1, a2} with a1 → b1 and a2 → b2).
   */
  const convex = (m: ReadonlySet<number>): boolean => {
    const seen = new Set<number>();
    const stack = [...m].flatMap((i) => succs[i]!.filter((j) => !m.has(j)));
    while (stack.length) {
      const i = stack.pop()!;
      if (m.has(i)) return false;
      if (seen.has(i)) continue;
      const g = familyOf.get(i);
      for (const k of g ? members(g) : [i]) {
        seen.add(k);
        stack.push(...succs[k]!);
      }
    }
    return true;
  };
  const join = (f: Family, add: readonly number[], reds: readonly number[]) => {
    const g: Family = {
      head: f.head,
      reductions: [...f.reductions, ...reds].sort((p, q) => p - q),
      epilogues: [...f.epilogues, ...add.filter((i) => !reds.includes(i))]
        .sort((p, q) => p - q),
    };
    const m = members(g);
    if (!convex(m)) return false;
    const step = tryBuild(g);
    if (!step) return false;
    families[families.indexOf(f)] = g;
    built.delete(f);
    built.set(g, step);
    for (const i of m) familyOf.set(i, g);
    return true;
  };
  for (let s = 0; s < n; s++) {
    const r = reductions[s];
    if (!r) continue;
    let joined = false;
    let up: Set<number> | null = null;
    for (let k = families.length - 1; k >= 0 && !joined; k--) {
      const f = families[k]!;
      if (f.head.key !== r.key) continue;
      const m = members(f);
      up ??= reach([s], preds);
      // An unrelated reduction (no path from f, no input in common) gains
      // nothing by joining: every reduction keeps its accumulators live
      // through the whole loop, and 52 bias gradients in one kernel ran 4.5×
      // slower on wasm than one kernel each (register spills, 52 streams).
      if (
        ![...m].some((i) => up!.has(i) && !fixed(i)) &&
        !sharesInput(steps, m, s, r)
      ) {
        continue;
      }
      // Steps on a path from f to s: f's descendants that reach s (a
      // step that does not reach s has no descendant that does).
      const between = [...reach(m, succs, up)].filter((i) => !m.has(i));
      if (between.every((i) => epilogueFor(i, r) && !familyOf.has(i))) {
        joined = join(f, [...between, s], [s]);
      }
    }
    if (!joined) {
      const f: Family = { head: r, reductions: [s], epilogues: [] };
      families.push(f);
      familyOf.set(s, f);
    }
  }
  // Epilogue steps after a family: those reading its results.
  for (let changed = true; changed;) {
    changed = false;
    for (const f of [...families]) {
      const m = members(f);
      for (const i of m) {
        for (const j of succs[i]!) {
          if (m.has(j) || familyOf.has(j) || !epilogueFor(j, f.head)) continue;
          if (join(familyOf.get(i)!, [j], [])) {
            changed = true;
            break;
          }
        }
        if (changed) break;
      }
    }
  }
  const out: Step[] = [];
  const placed = new Set<Family>();
  steps.forEach((s, i) => {
    const f = familyOf.get(i);
    const step = f && built.get(f);
    if (!f || !step) return void out.push(s);
    if (!placed.has(f)) placed.add(f), out.push(step);
  });
  return out;
}

/**
 * Whether step `s` reads a variable as large as the iteration space of
 * its reduction `r` that a step of `m` reads too: one stream read once for
 * both. A shared small input (a padding mask broadcast over the features,
 * the labels) does not count: it would tie together the otherwise
 * independent members of an ensemble, whose steps could not then run
 * member by member (`lowPeakOrder`).
 */
function sharesInput(
  steps: readonly Step[],
  m: ReadonlySet<number>,
  s: number,
  r: Reduction,
): boolean {
  const n = sizeOf(r.shape);
  const ins = new Set(
    stepInputs(steps[s]!).filter((v) => sizeOf(v.aval.shape) >= n),
  );
  return [...m].some((i) => stepInputs(steps[i]!).some((v) => ins.has(v)));
}

/** The one kernel of a family. */
function familyStep(
  a: Analysis,
  steps: readonly Step[],
  f: Family,
  reductions: readonly (Reduction | null)[],
  succs: readonly (readonly number[])[],
  outputs: ReadonlySet<Var>,
  index: ReadonlyMap<Eqn, number>,
): KernelStep {
  const { shape, axes } = f.head;
  const rank = shape.length;
  const kept = [...shape.keys()].filter((d) => !axes.includes(d));
  const reds = f.reductions.map((i) => reductions[i]!)
    .sort((p, q) => index.get(p.eqn)! - index.get(q.eqn)!);
  // Each result is contiguous over the kept axes.
  const strides = new Array<number>(rank).fill(0);
  for (let t = kept.length - 1, st = 1; t >= 0; t--) {
    strides[kept[t]!] = st;
    st *= shape[kept[t]!]!;
  }
  const reduced = new Map<Var, Reduced>(
    reds.map((r, index) => [r.eqn.outs[0]!, { index, strides }]),
  );
  // The groups of the epilogue steps are computed in the kernel.
  const own = new Set<number>();
  for (const i of f.epilogues) {
    const v = stepOutputs(steps[i]!)[0]!;
    own.add(a.groups.groupOf(a.producer.get(v)!));
  }
  const b = new KernelBuilder(a, shape, own, reduced);
  const values = reds.map((r) => {
    b.eqns.add(r.eqn);
    return b.value(r.eqn.inputs[0]!, identityMap(rank));
  });
  const m = new Set([...f.reductions, ...f.epilogues]);
  const epilogue: FusedEpilogue[] = [];
  const outs = reds.map((r) => r.eqn.outs[0]!);
  const nonUnitKept = kept.filter((d) => shape[d] !== 1);
  for (const i of f.epilogues) {
    const s = steps[i]! as KernelStep;
    for (const e of s.eqns) b.eqns.add(e);
    s.outputs.forEach((v) => {
      const outside = outputs.has(v) ||
        succs[i]!.some((j) => !m.has(j) && stepInputs(steps[j]!).includes(v));
      if (!outside) return;
      let t = 0;
      const map = v.aval.shape.map((d) => (d === 1 ? -1 : nonUnitKept[t++]!));
      epilogue.push({ node: b.value(v, map), shape: [...v.aval.shape] });
      outs.push(v);
    });
  }
  for (const i of f.reductions) {
    const s = steps[i]!;
    if (s.kind === "kernel") { for (const e of s.eqns) b.eqns.add(e); }
  }
  const kernel: FusedKernel = {
    kind: "reduce",
    op: REDUCE_OPS[reds[0]!.eqn.prim as ReducePrimitive],
    shape: [...shape],
    axes: [...axes],
    nodes: b.nodes,
    value: values[0]!,
    ...(reds.length > 1
      ? {
        more: reds.slice(1).map((r, j) => ({
          op: REDUCE_OPS[r.eqn.prim as ReducePrimitive],
          value: values[j + 1]!,
        })),
      }
      : {}),
    ...(epilogue.length ? { epilogue } : {}),
  };
  return b.step(kernel, outs, index);
}
