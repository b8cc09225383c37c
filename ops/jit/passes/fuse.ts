/**
 * Fusion: partitions a program into fused kernels and plain equations.
 *
 * - Elementwise equations of one shape join maximal groups along
 *   producer-consumer edges (`_groups.ts`); each group is one elementwise
 *   kernel whose outputs are the values used outside it.
 * - `broadcast_in_dim`, `transpose` and `reshape` (of a plain buffer, or
 *   adding or dropping unit axes) are read through as strided loads; they
 *   run on their own only where a plain equation or an output needs them.
 * - A `reduce_sum`, `reduce_max` or `reduce_min` of an elementwise value or
 *   of such a view is a reduce kernel over its producer's expression.
 *   Reduce kernels of one iteration shape and axes then join into one,
 *   with the small elementwise kernels over their reduced shape between
 *   and after them as values it computes per output (`_families.ts`).
 * - A group whose values only fused kernels read is copied into them (at
 *   most {@link MAX_COPIES} of them, at most {@link MAX_COPIED_OPS} ops)
 *   instead of being written out: softmax's `exp(x - max)` is computed by
 *   the sum's kernel and again by the division's, never stored. Under a
 *   broadcast (each element read many times) only cheap ops are copied;
 *   a group of a few cheap ops goes into up to {@link MAX_CHEAP_COPIES}.
 *   Reductions, matmuls and every other equation are never copied.
 *
 * - Transposes feeding a `dot_general` are folded into its dimension
 *   numbers first (`dot_layout.ts`).
 *
 * - Matmul epilogues (`_epilogue.ts`): a float32 `dot_general` whose
 *   product one elementwise kernel alone reads, element for element (bias
 *   add through a broadcast, activation, residual add, scale, cast), joins
 *   that kernel as a dot kernel (`FusedDot`): one step, with the bias and
 *   residual among its inputs. A product that is an output, or that
 *   anything else reads (a reduction, a transpose, a second kernel), stays
 *   a plain equation, stored once. Where kernels run equation by equation
 *   (`maxCopies` 1) this is off by default: it saves no dispatch there.
 *
 * @module
 */

import { checkOptions } from "../../_options.ts";
import { sizeOf } from "../../dtype.ts";
import type { FusedKernel } from "../../backends/fused.ts";
import type { Params, Primitive } from "../../primitives.ts";
import type { Plan, Step } from "../plan.ts";
import type { Eqn, Program, Var } from "../program.ts";
import { fusible, groupElementwise } from "./_groups.ts";
import { KernelBuilder } from "./_kernel.ts";
import {
  type AxisMap,
  broadcastMap,
  composeMaps,
  identityMap,
  layoutView,
  mapKey,
  reshaped,
  selfView,
  type View,
} from "./_views.ts";
import { lowPeakOrder, orderSteps } from "./_order.ts";
import type { Analysis } from "./_analysis.ts";

export type { Analysis } from "./_analysis.ts";
import { mergeReductions } from "./_families.ts";
import { splitCoupledKernels } from "./_split.ts";
import { foldDotTransposes } from "./dot_layout.ts";
import { fuseEpilogues } from "./_epilogue.ts";

/** How many kernels may each compute a copied group. */
export const MAX_COPIES = 2;
/** The most ops a group may have to be copied into more than one kernel, or under a broadcast. */
export const MAX_COPIED_OPS = 16;
/** How many kernels may each compute a copied group of a few cheap ops. */
export const MAX_CHEAP_COPIES = 8;
/** The most ops such a group may have. */
export const MAX_CHEAP_COPIED_OPS = 4;

const REDUCE_OPS = {
  reduce_sum: "sum",
  reduce_max: "max",
  reduce_min: "min",
} as const;
type ReducePrimitive = keyof typeof REDUCE_OPS;

const isReduce = (p: Primitive): p is ReducePrimitive => p in REDUCE_OPS;

/** Ops that cost about as much as a load: copying them under a broadcast costs little. */
const CHEAP = new Set<Primitive>([
  "neg",
  "abs",
  "sign",
  "add",
  "sub",
  "mul",
  "div",
  "max",
  "min",
  "eq",
  "ne",
  "lt",
  "le",
  "gt",
  "ge",
  "and",
  "or",
  "not",
  "select",
  "convert_element_type",
]);

/** Options of {@link fuseProgram}. */
export interface FuseOptions {
  /**
   * How many kernels may each compute a copied group (default
   * {@link MAX_COPIES}; a group of a few cheap ops, up to
   * {@link MAX_CHEAP_COPIES}); 1 copies nothing, so every equation runs
   * once (for backends that run a kernel's equations one by one).
   */
  readonly maxCopies?: number;
  /**
   * Whether a float32 `dot_general` joins the elementwise kernel that alone
   * reads its product as a dot kernel (default: unless `maxCopies` is 1,
   * where kernels run equation by equation: there it would save no
   * dispatch, and would keep the matmul's operands and product alive
   * through the whole step).
   */
  readonly epilogues?: boolean;
}

/** A kernel that reads a group's value, and through which map. */
interface Use {
  readonly kernel: string;
  readonly map: AxisMap;
  /** Elements of the reading kernel's iteration. */
  readonly size: number;
}

/** Keeps -1 on unit axes, so equal reads have equal keys. */
function canonical(map: AxisMap, shape: readonly number[]): AxisMap {
  return map.map((d, k) => (shape[k] === 1 ? -1 : d));
}

/**
 * Partitions an (optimised) program into steps: fused kernels and plain
 * equations, in an order that respects every use. Each kernel step keeps
 * the equations it stands for, so a backend without fused kernels runs
 * them one by one.
 *
 * @example Softmax is two kernels: the row's max then its sum of exp, and the divide
 * ```ts
 * import { makeProgram, optimizeProgram, softmax, tensor } from "@heed/heed";
 * import { fuseProgram } from "./fuse.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const { program } = makeProgram(softmax)(tensor([[1, 2, 3], [4, 5, 6]]));
 * const plan = fuseProgram(optimizeProgram(program));
 * assertEquals(
 *   plan.steps.map((s) => s.kind === "eqn" ? s.eqn.prim : s.kernel.kind),
 *   ["reduce", "elementwise"],
 * );
 * ```
 */
export function fuseProgram(program: Program, opts?: FuseOptions): Plan {
  checkOptions("fuseProgram", opts, ["maxCopies", "epilogues"]);
  const p = foldDotTransposes(program);
  const maxCopies = opts?.maxCopies ?? MAX_COPIES;
  if (!Number.isInteger(maxCopies) || maxCopies < 1) {
    throw new RangeError(
      `fuseProgram: maxCopies must be an integer of at least 1, got ${maxCopies}`,
    );
  }
  const producer = new Map<Var, number>();
  const consumers = new Map<Var, number[]>();
  p.eqns.forEach((e, i) => {
    for (const v of e.outs) producer.set(v, i);
    for (const a of e.inputs) {
      if (a.kind !== "var") continue;
      const list = consumers.get(a);
      if (list) list.push(i);
      else consumers.set(a, [i]);
    }
  });
  const usesOf = (v: Var): readonly number[] => consumers.get(v) ?? [];
  const outputs = new Set(p.outputs.filter((a): a is Var => a.kind === "var"));
  const groups = groupElementwise(p, producer);
  const fusibleAt = (v: Var): boolean => {
    const i = producer.get(v);
    return i !== undefined && fusible(p.eqns[i]!);
  };

  // Views, forwards: each layout result over its operand's view.
  const views = new Map<Var, View>();
  for (const e of p.eqns) {
    if (e.outs.length !== 1 || e.inputs.length !== 1) continue;
    const x = e.inputs[0]!;
    const operand = (x.kind === "var" ? views.get(x) : undefined) ??
      selfView(x);
    const v = layoutView(e, operand);
    if (v) views.set(e.outs[0]!, v);
  }
  // Reductions of an elementwise value or a view become reduce kernels.
  const fusedReduce = new Set<number>();
  p.eqns.forEach((e, i) => {
    if (!isReduce(e.prim)) return;
    const x = e.inputs[0]!;
    const { axes } = e.params as Params<ReducePrimitive>;
    if (
      x.kind === "var" && axes.length > 0 && sizeOf(x.aval.shape) > 0 &&
      (fusibleAt(x) || views.has(x))
    ) fusedReduce.add(i);
  });
  // Views run on their own where anything but a kernel reads them (backwards).
  const standalone = new Set<Var>();
  const kernelReads = (i: number): boolean => {
    const e = p.eqns[i]!;
    return fusible(e) || fusedReduce.has(i) ||
      (views.has(e.outs[0]!) && !standalone.has(e.outs[0]!));
  };
  for (let i = p.eqns.length - 1; i >= 0; i--) {
    const v = p.eqns[i]!.outs[0];
    if (!v || !views.has(v)) continue;
    if (outputs.has(v) || usesOf(v).some((c) => !kernelReads(c))) {
      standalone.add(v);
    }
  }

  // Which groups are copied into their readers (consumers decided first).
  const viewsOf = new Map<Var, [Var, View][]>();
  for (const [w, view] of views) {
    if (view.src.kind !== "var") continue;
    const list = viewsOf.get(view.src) ?? [];
    list.push([w, view]);
    viewsOf.set(view.src, list);
  }
  const copied = new Set<number>();
  const decided = new Map<number, readonly Use[]>();
  const shapeOf = (g: number) =>
    p.eqns[groups.members.get(g)![0]!]!.outs[0]!.aval.shape;
  const decide = (g: number): readonly Use[] => {
    const have = decided.get(g);
    if (have) return have;
    const shape = shapeOf(g);
    const self: Use[] = [{
      kernel: `g${g}`,
      map: canonical(identityMap(shape.length), shape),
      size: sizeOf(shape),
    }];
    let must = false;
    const uses = new Map<string, Use>();
    const add = (u: Use) => {
      const map = canonical(u.map, shape);
      uses.set(`${u.kernel}:${mapKey(map)}`, { ...u, map });
    };
    // `map`: the value's axes to reader `c`'s iteration axes.
    const readBy = (c: number, map: AxisMap, from: readonly number[]) => {
      const e = p.eqns[c]!;
      if (fusible(e)) {
        const h = groups.groupOf(c);
        if (h === g) return;
        const m = composeMaps(map, broadcastMap(from, e.outs[0]!.aval.shape));
        for (const u of decide(h)) add({ ...u, map: composeMaps(m, u.map) });
      } else if (fusedReduce.has(c)) {
        add({ kernel: `r${c}`, map, size: sizeOf(from) });
      } else if (!views.has(e.outs[0]!)) must = true;
    };
    for (const m of groups.members.get(g)!) {
      const v = p.eqns[m]!.outs[0]!;
      if (outputs.has(v)) must = true;
      const id = identityMap(v.aval.shape.length);
      for (const c of usesOf(v)) readBy(c, id, v.aval.shape);
      for (const [w, view] of viewsOf.get(v) ?? []) {
        if (standalone.has(w) || reshaped(view)) must = true;
        else for (const c of usesOf(w)) readBy(c, view.map, w.aval.shape);
      }
    }
    const list = [...uses.values()];
    const n = groups.members.get(g)!.length;
    const size = sizeOf(shape);
    const moves = list.length === 1 && list[0]!.size === size;
    const cheap = groups.members.get(g)!.every((m) =>
      CHEAP.has(p.eqns[m]!.prim)
    );
    const copy = !must && list.length >= 1 &&
      (moves ||
        ((list.length <= maxCopies ||
          (maxCopies > 1 && cheap && n <= MAX_CHEAP_COPIED_OPS &&
            list.length <= MAX_CHEAP_COPIES)) &&
          n <= MAX_COPIED_OPS &&
          (cheap || list.every((u) => u.size === size))));
    if (copy) copied.add(g);
    const out = copy ? list : self;
    decided.set(g, out);
    return out;
  };
  for (const g of groups.members.keys()) decide(g);

  // Kernels and steps, then an order that respects every use.
  const analysis: Analysis = { program: p, producer, groups, views, copied };
  const index = new Map(p.eqns.map((e, i) => [e, i]));
  const steps: Step[] = [];
  p.eqns.forEach((e, i) => {
    if (fusible(e)) {
      const g = groups.groupOf(i);
      if (copied.has(g) || groups.members.get(g)![0] !== i) return;
      steps.push(groupKernel(analysis, g, usesOf, outputs, index));
    } else if (fusedReduce.has(i)) {
      steps.push(reduceKernel(analysis, e, index));
    } else if (!views.has(e.outs[0]!) || standalone.has(e.outs[0]!)) {
      steps.push({ kind: "eqn", eqn: e });
    }
  });
  const apart = maxCopies > 1 ? splitCoupledKernels(p, steps) : steps;
  const merged = mergeReductions(analysis, apart, outputs, index);
  const last = opts?.epilogues ?? maxCopies > 1
    ? fuseEpilogues(merged, outputs, index)
    : merged;
  return Object.freeze({
    program: p,
    steps: Object.freeze(lowPeakOrder(p, orderSteps(p, last))),
  });
}

/** The elementwise kernel of group `g`: its values used outside it are its outputs. */
function groupKernel(
  a: Analysis,
  g: number,
  usesOf: (v: Var) => readonly number[],
  outputs: ReadonlySet<Var>,
  index: ReadonlyMap<Eqn, number>,
): Step {
  const members = a.groups.members.get(g)!;
  const shape = a.program.eqns[members[0]!]!.outs[0]!.aval.shape;
  const b = new KernelBuilder(a, shape, new Set([g]));
  const outs: Var[] = [];
  const nodes: number[] = [];
  for (const m of members) {
    const v = a.program.eqns[m]!.outs[0]!;
    const outside = outputs.has(v) ||
      usesOf(v).some((c) => {
        const e = a.program.eqns[c]!;
        return !fusible(e) || a.groups.groupOf(c) !== g;
      });
    if (!outside) continue;
    outs.push(v);
    nodes.push(b.value(v, identityMap(shape.length)));
  }
  const kernel: FusedKernel = {
    kind: "elementwise",
    shape: [...shape],
    nodes: b.nodes,
    outputs: nodes,
  };
  return b.step(kernel, outs, index);
}

/** The reduce kernel of equation `e` over its operand's expression. */
function reduceKernel(
  a: Analysis,
  e: Eqn,
  index: ReadonlyMap<Eqn, number>,
): Step {
  const x = e.inputs[0]!;
  const shape = x.aval.shape;
  const b = new KernelBuilder(a, shape, new Set());
  const value = b.value(x, identityMap(shape.length));
  b.eqns.add(e);
  const kernel: FusedKernel = {
    kind: "reduce",
    op: REDUCE_OPS[e.prim as ReducePrimitive],
    shape: [...shape],
    axes: [...new Set((e.params as Params<ReducePrimitive>).axes)].sort((
      i,
      j,
    ) => i - j),
    nodes: b.nodes,
    value,
  };
  return b.step(kernel, [e.outs[0]!], index);
}
