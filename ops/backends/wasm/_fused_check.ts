// Checks of a fused kernel's nodes before code generation: SSA order,
// arities and dtypes, the nodes each output needs, and the order of a
// reduce kernel's reductions (each reads only earlier ones; its epilogue
// does not vary along the reduced axes). Private to ops/backends/wasm/.

import type { DType } from "../../dtype.ts";
import {
  type FusedNode,
  type FusedOp,
  type FusedReduce,
  reductionsOf,
} from "../fused.ts";
import { arityOf } from "./_fused_ops.ts";

/** The dtype an op node must have, given its arguments' dtypes. */
function resultDtype(node: FusedOp, args: readonly DType[]): DType {
  switch (node.prim) {
    case "eq":
    case "ne":
    case "lt":
    case "le":
    case "gt":
    case "ge":
    case "and":
    case "or":
    case "not":
      return "bool";
    case "select":
      return args[1]!;
    case "convert_element_type":
      return (node.params as { dtype: DType }).dtype;
    default:
      return args[0]!;
  }
}

/** Checks SSA order, arities and dtypes; returns the nodes `roots` need. */
export function liveNodes(
  nodes: readonly FusedNode[],
  roots: readonly number[],
): boolean[] {
  nodes.forEach((n, i) => {
    if (n.kind !== "op") return;
    const want = arityOf(n.prim);
    if (n.args.length !== want) {
      throw new TypeError(
        `fused kernel: ${n.prim} (node ${i}) takes ${want} arguments, got ` +
          n.args.length,
      );
    }
    for (const a of n.args) {
      if (!Number.isInteger(a) || a < 0 || a >= i) {
        throw new RangeError(
          `fused kernel: node ${i} reads node ${a}, which is not before it`,
        );
      }
    }
    const dt = resultDtype(n, n.args.map((a) => nodes[a]!.dtype));
    if (dt !== n.dtype) {
      throw new TypeError(
        `fused kernel: ${n.prim} (node ${i}) gives ${dt}, not ${n.dtype}`,
      );
    }
  });
  const live = nodes.map(() => false);
  const stack = [...roots];
  for (const r of roots) {
    if (!Number.isInteger(r) || r < 0 || r >= nodes.length) {
      throw new RangeError(`fused kernel: no node ${r} to output`);
    }
  }
  while (stack.length) {
    const i = stack.pop()!;
    if (live[i]) continue;
    live[i] = true;
    const n = nodes[i]!;
    if (n.kind === "op") stack.push(...n.args);
  }
  return live;
}

/** A reduction of the kernel and the nodes it needs. */
export interface Stage {
  readonly op: "sum" | "max" | "min";
  readonly value: number;
  readonly need: readonly boolean[];
}

/**
 * The reductions in order with the nodes each needs; checks that each
 * reads only earlier ones, that reduced nodes have their reduction's
 * dtype, and that the epilogue does not vary along the reduced axes.
 */
export function checkStages(kernel: FusedReduce): Stage[] {
  const nodes = kernel.nodes, reds = reductionsOf(kernel);
  nodes.forEach((n, i) => {
    if (n.kind !== "reduced") return;
    const r = reds[n.index];
    if (!r) throw new RangeError(`fused kernel: node ${i} reads no reduction`);
    if (nodes[r.value]?.dtype !== n.dtype) {
      throw new TypeError(
        `fused kernel: reduced node ${i} is ${n.dtype}, its reduction is not`,
      );
    }
  });
  const stages = reds.map((r, j) => {
    const need = liveNodes(nodes, [r.value]);
    need.forEach((on, i) => {
      const n = nodes[i]!;
      if (on && n.kind === "reduced" && n.index >= j) {
        throw new RangeError(
          `fused kernel: reduction ${j} reads reduction ${n.index} (node ${i})`,
        );
      }
    });
    return { op: r.op, value: r.value, need };
  });
  const axes = kernel.axes;
  const epi = liveNodes(nodes, (kernel.epilogue ?? []).map((e) => e.node));
  epi.forEach((on, i) => {
    const n = nodes[i]!;
    if (
      on && n.kind === "load" &&
      axes.some((d) => n.strides[d] !== 0 && kernel.shape[d] !== 1)
    ) {
      throw new RangeError(
        `fused kernel: epilogue load ${i} varies along a reduced axis`,
      );
    }
  });
  return stages;
}
