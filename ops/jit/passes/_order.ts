// The order of a plan's steps: each step after the steps that define what
// it reads, otherwise in program order. Private to ops/jit/passes/.

import { type Step, stepInputs, stepOutputs } from "../plan.ts";
import type { Program, Var } from "../program.ts";

/** `steps` (in program order of their first equation) sorted so that every read follows its definition. */
export function orderSteps(p: Program, steps: readonly Step[]): Step[] {
  const definedBy = new Map<Var, number>();
  steps.forEach((s, i) => {
    for (const v of stepOutputs(s)) definedBy.set(v, i);
  });
  const state = new Uint8Array(steps.length); // 0 new, 1 on the stack, 2 done
  const out: Step[] = [];
  for (let root = 0; root < steps.length; root++) {
    if (state[root]) continue;
    // Depth-first, without recursion: a stack of (step, next input).
    const stack: [number, number][] = [[root, 0]];
    state[root] = 1;
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      const ins = stepInputs(steps[top[0]]!);
      if (top[1] < ins.length) {
        const d = definedBy.get(ins[top[1]++]!);
        if (d === undefined || state[d] === 2) continue;
        if (state[d] === 1) {
          throw new Error(
            `fuseProgram: the plan of a ${p.eqns.length}-equation program has a cycle (a bug in the fusion pass)`,
          );
        }
        state[d] = 1;
        stack.push([d, 0]);
      } else {
        stack.pop();
        state[top[0]] = 2;
        out.push(steps[top[0]]!);
      }
    }
  }
  return out;
}

/**
 * The step defining each variable, and each step's distinct predecessors
 * (the steps defining what it reads), by index.
 */
export function stepGraph(steps: readonly Step[]): {
  readonly definedBy: ReadonlyMap<Var, number>;
  readonly preds: readonly (readonly number[])[];
} {
  const definedBy = new Map<Var, number>();
  steps.forEach((s, i) => stepOutputs(s).forEach((v) => definedBy.set(v, i)));
  const preds = steps.map((s) => [
    ...new Set(
      stepInputs(s).flatMap((v) => {
        const d = definedBy.get(v);
        return d === undefined ? [] : [d];
      }),
    ),
  ]);
  return { definedBy, preds };
}

/** Bytes of a value (bool counted as one byte per element, as on wasm). */
function bytesOf(v: Var): number {
  let n = v.aval.dtype === "bool" ? 1 : 4;
  for (const d of v.aval.shape) n *= d;
  return n;
}

/**
 * The most bytes of intermediates (and outputs) live at once when `steps`
 * run in this order, each freed after its last read (as executables do);
 * the program's inputs and constants are not counted.
 */
export function peakBytes(p: Program, steps: readonly Step[]): number {
  const keep = new Set<Var>([...p.inputs, ...p.consts]);
  const lastUse = new Map<Var, number>();
  steps.forEach((s, i) => stepInputs(s).forEach((v) => lastUse.set(v, i)));
  for (const a of p.outputs) if (a.kind === "var") lastUse.set(a, Infinity);
  let live = 0, peak = 0;
  const freeAt = new Map<number, number>();
  steps.forEach((s, i) => {
    for (const v of stepOutputs(s)) {
      if (keep.has(v)) continue;
      const b = bytesOf(v);
      live += b;
      const at = lastUse.get(v) ?? i;
      if (at !== Infinity) freeAt.set(at, (freeAt.get(at) ?? 0) + b);
    }
    peak = Math.max(peak, live);
    live -= freeAt.get(i) ?? 0;
  });
  return peak;
}

/**
 * A reordering of `steps` (already in an order that respects every use)
 * that keeps fewer bytes live where it can: list scheduling that walks
 * the outputs' dependencies depth first, the outputs in order, but first
 * runs any ready step that frees at least as many bytes as it makes (a
 * weight gradient right after the cotangent it reads). A program of
 * independent parts (an ensemble's members, each with its forward and
 * backward) then runs part by part instead of every forward first.
 * Returns the order with the lower {@link peakBytes}: `steps` itself on a
 * tie, so a chain keeps its program order.
 */
export function lowPeakOrder(p: Program, steps: readonly Step[]): Step[] {
  if (steps.length < 3) return [...steps];
  let best = [...steps], peak = peakBytes(p, steps);
  // The outputs in order, then reversed: a loss output that reads every
  // part's forward, walked first, would run every forward first.
  const outs = p.outputs.flatMap((a) => a.kind === "var" ? [a] : []);
  for (const roots of [outs, [...outs].reverse()]) {
    const order = listSchedule(p, steps, roots);
    const q = peakBytes(p, order);
    if (q < peak) best = order, peak = q;
  }
  return best;
}

/** The list schedule of {@link lowPeakOrder} from `roots` (in that order). */
function listSchedule(
  p: Program,
  steps: readonly Step[],
  roots: readonly Var[],
): Step[] {
  const n = steps.length;
  const { definedBy, preds: deps } = stepGraph(steps);
  // The depth-first rank of each step from the roots (unreached: after).
  const rank = new Array<number>(n).fill(-1);
  let next = 0;
  const visit = (root: number) => {
    if (rank[root] !== -1) return;
    const stack: [number, number][] = [[root, 0]];
    rank[root] = -2;
    while (stack.length) {
      const top = stack[stack.length - 1]!;
      const ds = deps[top[0]]!;
      if (top[1] < ds.length) {
        const d = ds[top[1]++]!;
        if (rank[d] === -1) rank[d] = -2, stack.push([d, 0]);
      } else stack.pop(), rank[top[0]] = next++;
    }
  };
  for (const v of roots) {
    const d = definedBy.get(v);
    if (d !== undefined) visit(d);
  }
  for (let i = 0; i < n; i++) if (rank[i] === -1) rank[i] = next++;
  // Freeing steps first, else the lowest rank.
  const users = new Map<Var, number>(); // reads not yet run, per variable
  const keep = new Set<Var>([...p.inputs, ...p.consts]);
  for (const a of p.outputs) if (a.kind === "var") keep.add(a);
  steps.forEach((s) =>
    new Set(stepInputs(s)).forEach((v) => users.set(v, (users.get(v) ?? 0) + 1))
  );
  const waiting = deps.map((ds) => ds.length);
  const dependents: number[][] = steps.map(() => []);
  deps.forEach((ds, i) => ds.forEach((d) => dependents[d]!.push(i)));
  const ready = new Set<number>();
  waiting.forEach((w, i) => w === 0 && ready.add(i));
  const net = (i: number) => {
    let b = 0;
    for (const v of stepOutputs(steps[i]!)) if (!keep.has(v)) b += bytesOf(v);
    for (const v of new Set(stepInputs(steps[i]!))) {
      if (!keep.has(v) && users.get(v) === 1) b -= bytesOf(v);
    }
    return b;
  };
  const out: Step[] = [];
  while (ready.size) {
    let best = -1, bestFrees = false;
    for (const i of ready) {
      const frees = net(i) <= 0;
      if (
        best === -1 || (frees && !bestFrees) ||
        (frees === bestFrees && rank[i]! < rank[best]!)
      ) best = i, bestFrees = frees;
    }
    ready.delete(best);
    out.push(steps[best]!);
    for (const v of new Set(stepInputs(steps[best]!))) {
      users.set(v, users.get(v)! - 1);
    }
    for (const j of dependents[best]!) if (--waiting[j]! === 0) ready.add(j);
  }
  return out;
}
