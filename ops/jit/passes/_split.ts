// Splitting elementwise kernels that tie independent computations
// together. Grouping joins an equation to its producer's group, so
// consumers of one cheap value computed from the program's inputs (a
// validity mask of the labels) land in one kernel even when each reads
// another part of the program: the cross-entropy of every member of an
// ensemble, say. That kernel then waits for every member's forward pass,
// and every member's backward pass waits for it, so no order of the plan
// can run the members one after another (`lowPeakOrder`). Here such a
// kernel is split into one kernel per independent part, each recomputing
// the shared values, which read only the program's inputs and constants
// (outputs made of those alone are one more kernel).
// Private to ops/jit/passes/.

import {
  type FusedElementwise,
  type FusedNode,
  reachable,
} from "../../backends/fused.ts";
import type { KernelStep, Step } from "../plan.ts";
import type { Eqn, Program, Var } from "../program.ts";

/**
 * `steps` with every elementwise kernel whose outputs fall into two or
 * more independent parts split into one kernel per part. Two outputs are
 * in one part when their expressions share a node that depends on an
 * intermediate (a value computed by the program); a split is made only
 * when at least two parts read intermediates.
 */
export function splitCoupledKernels(
  p: Program,
  steps: readonly Step[],
): Step[] {
  const given = new Set<Var>([...p.inputs, ...p.consts]);
  return steps.flatMap((s) =>
    s.kind === "kernel" && s.kernel.kind === "elementwise" &&
      s.outputs.length > 1
      ? split(s, s.kernel, given)
      : [s]
  );
}

function split(
  s: KernelStep,
  k: FusedElementwise,
  given: ReadonlySet<Var>,
): KernelStep[] {
  const nodes = k.nodes;
  // fixed[n]: node n reads only the program's inputs, constants and literals.
  const fixed = nodes.map(() => true);
  nodes.forEach((n, i) => {
    if (n.kind === "load") fixed[i] = given.has(s.inputs[n.input]!);
    else if (n.kind === "op") fixed[i] = n.args.every((a) => fixed[a]);
    else if (n.kind === "reduced") fixed[i] = false;
  });
  const cones = k.outputs.map((o) => new Set(reachable(nodes, [o])));
  // Outputs sharing a node that depends on an intermediate are one part.
  const parent = k.outputs.map((_, j) => j);
  const find = (j: number): number => {
    while (parent[j] !== j) j = parent[j] = parent[parent[j]!]!;
    return j;
  };
  const owner = new Map<number, number>();
  cones.forEach((cone, j) => {
    for (const i of cone) {
      if (fixed[i]) continue;
      const o = owner.get(i);
      if (o === undefined) owner.set(i, j);
      else parent[find(j)] = find(o);
    }
  });
  const parts = new Map<number, number[]>();
  k.outputs.forEach((_, j) => {
    const r = find(j);
    parts.set(r, [...parts.get(r) ?? [], j]);
  });
  const reading = [...parts.values()].filter((js) =>
    js.some((j) => [...cones[j]!].some((i) => !fixed[i]))
  );
  if (reading.length < 2) return [s];
  // Outputs that read only inputs form one more kernel (attached to a part,
  // they would make every other part's readers wait for that part).
  const groups = reading.map((js) => [...js]);
  const rest = [...parts.values()].filter((js) => !reading.includes(js))
    .flat();
  if (rest.length) groups.push(rest);
  return groups.map((js) => part(s, k, js.sort((a, b) => a - b)));
}

/** The kernel of outputs `js` of `s`: their nodes, inputs and equations. */
function part(
  s: KernelStep,
  k: FusedElementwise,
  js: readonly number[],
): KernelStep {
  const keep = reachable(k.nodes, js.map((j) => k.outputs[j]!));
  const at = new Map(keep.map((i, t) => [i, t]));
  const inputs: Var[] = [];
  const inputAt = new Map<number, number>();
  const nodes: FusedNode[] = keep.map((i) => {
    const n = k.nodes[i]!;
    if (n.kind === "load") {
      let t = inputAt.get(n.input);
      if (t === undefined) {
        t = inputs.length;
        inputAt.set(n.input, t);
        inputs.push(s.inputs[n.input]!);
      }
      return { ...n, input: t };
    }
    if (n.kind === "op") return { ...n, args: n.args.map((a) => at.get(a)!) };
    return n;
  });
  const outputs = js.map((j) => s.outputs[j]!);
  return {
    kind: "kernel",
    kernel: {
      kind: "elementwise",
      shape: k.shape,
      nodes,
      outputs: js.map((j) => at.get(k.outputs[j]!)!),
    },
    inputs,
    outputs,
    eqns: eqnsFor(s.eqns, outputs),
  };
}

/** The equations of `eqns` (in order) that `outputs` need. */
function eqnsFor(eqns: readonly Eqn[], outputs: readonly Var[]): Eqn[] {
  const byOut = new Map<Var, Eqn>();
  for (const e of eqns) for (const v of e.outs) byOut.set(v, e);
  const need = new Set<Eqn>();
  const stack = [...outputs];
  while (stack.length) {
    const e = byOut.get(stack.pop()!);
    if (!e || need.has(e)) continue;
    need.add(e);
    for (const a of e.inputs) if (a.kind === "var") stack.push(a);
  }
  return eqns.filter((e) => need.has(e));
}
