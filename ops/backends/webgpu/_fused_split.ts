// A reduce kernel of several reductions (or with an epilogue) on WebGPU,
// when its rows are too long for one invocation (`_fused_staged.ts` runs
// the others in one shader): one single-reduction kernel per reduction,
// each reading the earlier results as inputs (and splitting long rows over
// invocations, `_fused_reduce.ts`), then one elementwise kernel over the
// reduced shape for the epilogue. Same meaning, more dispatches. Also
// checks a kernel's reductions' order and its epilogue.

import { stridesOf } from "../../dtype.ts";
import {
  type FusedElementwise,
  type FusedNode,
  type FusedReduce,
  reachable,
  reductionsOf,
} from "../fused.ts";

/** One step: a kernel and, per its input, the caller's input or an earlier step's output. */
export interface SplitStep {
  /** The kernel (one reduction, or the epilogue). */
  readonly kernel: FusedReduce | FusedElementwise;
  /** Per kernel input: `["in", i]` the staged kernel's input i, `["out", j]` its output j. */
  readonly inputs: readonly (readonly ["in" | "out", number])[];
}

/** Whether `k` needs {@link splitReduce}. */
export function staged(k: FusedReduce): boolean {
  return (k.more?.length ?? 0) > 0 || (k.epilogue?.length ?? 0) > 0;
}

/**
 * The nodes `roots` need, renumbered, with each `reduced` node and load
 * rewritten by `load` (which gets the node and returns its replacement).
 */
function prune(
  nodes: readonly FusedNode[],
  roots: readonly number[],
  rewrite: (n: FusedNode) => FusedNode,
): { nodes: FusedNode[]; at: Map<number, number> } {
  const live = new Set(reachable(nodes, roots));
  const at = new Map<number, number>();
  const out: FusedNode[] = [];
  nodes.forEach((n, i) => {
    if (!live.has(i)) return;
    at.set(i, out.length);
    out.push(
      n.kind === "op"
        ? { ...n, args: n.args.map((a) => at.get(a)!) }
        : rewrite(n),
    );
  });
  return { nodes: out, at };
}

/** The steps that compute staged reduce kernel `k`'s outputs, in order. */
export function splitReduce(k: FusedReduce): SplitStep[] {
  const axes = new Set(k.axes);
  const kept = k.shape.filter((_, d) => !axes.has(d));
  const keptStrides = stridesOf(kept);
  // A reduction's result over the iteration: contiguous kept axes.
  const iterStrides: number[] = [];
  let t = 0;
  k.shape.forEach((_, d) =>
    iterStrides.push(axes.has(d) ? 0 : keptStrides[t++]!)
  );
  const steps: SplitStep[] = [];
  const stepInputs = (
    strides: (n: FusedNode & { kind: "reduced" }) => number[],
    keep: (s: readonly number[], n: FusedNode) => number[],
  ) => {
    const inputs: ["in" | "out", number][] = [];
    const slot = (kind: "in" | "out", i: number) => {
      const have = inputs.findIndex(([p, q]) => p === kind && q === i);
      return have >= 0 ? have : inputs.push([kind, i]) - 1;
    };
    const rewrite = (n: FusedNode): FusedNode =>
      n.kind === "reduced"
        ? {
          kind: "load",
          input: slot("out", n.index),
          offset: 0,
          strides: strides(n),
          dtype: n.dtype,
        }
        : n.kind === "load"
        ? { ...n, input: slot("in", n.input), strides: keep(n.strides, n) }
        : n;
    return { rewrite, inputs };
  };
  const reds = reductionsOf(k);
  reds.forEach((r, j) => {
    const s = stepInputs((n) => {
      if (!(n.index >= 0 && n.index < j)) {
        throw new RangeError(
          `webgpu: fused kernel's reduction ${j} reads reduction ${n.index}`,
        );
      }
      return iterStrides;
    }, (st) => [...st]);
    const p = prune(k.nodes, [r.value], s.rewrite);
    steps.push({
      kernel: {
        kind: "reduce",
        op: r.op,
        shape: [...k.shape],
        axes: [...k.axes],
        nodes: p.nodes,
        value: p.at.get(r.value)!,
      },
      inputs: s.inputs,
    });
  });
  const epi = k.epilogue ?? [];
  if (epi.length) {
    const s = stepInputs(
      (n) => {
        if (!(n.index >= 0 && n.index < reds.length)) {
          throw new RangeError(
            `webgpu: fused kernel's epilogue reads reduction ${n.index}`,
          );
        }
        return [...keptStrides];
      },
      (st, n) => {
        if (st.some((x, d) => axes.has(d) && x !== 0 && k.shape[d] !== 1)) {
          throw new RangeError(
            `webgpu: fused kernel's epilogue node ${
              k.nodes.indexOf(n)
            } loads along a reduced axis`,
          );
        }
        return st.filter((_, d) => !axes.has(d));
      },
    );
    const p = prune(k.nodes, epi.map((e) => e.node), s.rewrite);
    steps.push({
      kernel: {
        kind: "elementwise",
        shape: kept,
        nodes: p.nodes,
        outputs: epi.map((e) => p.at.get(e.node)!),
      },
      inputs: s.inputs,
    });
  }
  return steps;
}
