// Matmul epilogues: a float32 `dot_general` whose product only one
// elementwise kernel reads, element for element, joins that kernel as a dot
// kernel (`FusedDot`): the product is computed and the kernel's expression
// applied to it before anything is stored. Private to ops/jit/passes/.

import { stridesOf } from "../../dtype.ts";
import type {
  FusedDot,
  FusedElementwise,
  FusedNode,
} from "../../backends/fused.ts";
import type { DotGeneralParams } from "../../primitives.ts";
import { type KernelStep, type Step, stepInputs } from "../plan.ts";
import type { Eqn, Var } from "../program.ts";

/** Whether every load of input `j` reads the kernel's own index, contiguously. */
function readsInPlace(k: FusedElementwise, j: number): boolean {
  const contiguous = stridesOf(k.shape);
  return k.nodes.every((n) =>
    n.kind !== "load" || n.input !== j ||
    (n.offset === 0 &&
      n.strides.every((s, d) => k.shape[d] === 1 || s === contiguous[d]))
  );
}

/** The product `e` defines, if it is a float32 dot of two variables. */
function dotOf(s: Step): { e: Eqn; x: Var; y: Var; d: Var } | null {
  if (s.kind !== "eqn" || s.eqn.prim !== "dot_general") return null;
  const e = s.eqn;
  const [x, y] = e.inputs;
  const d = e.outs[0]!;
  if (x?.kind !== "var" || y?.kind !== "var") return null;
  const f32 = [x, y, d].every((v) => v.aval.dtype === "float32");
  return f32 ? { e, x, y, d } : null;
}

/**
 * `steps` with each float32 `dot_general` that is not an output and whose
 * product one elementwise kernel alone reads, in place, merged into that
 * kernel (at the kernel's position).
 */
export function fuseEpilogues(
  steps: readonly Step[],
  outputs: ReadonlySet<Var>,
  index: ReadonlyMap<Eqn, number>,
): Step[] {
  const readers = new Map<Var, number[]>();
  steps.forEach((s, i) => {
    for (const v of new Set(stepInputs(s))) {
      const list = readers.get(v);
      if (list) list.push(i);
      else readers.set(v, [i]);
    }
  });
  const out: (Step | null)[] = [...steps];
  steps.forEach((s, i) => {
    const dot = dotOf(s);
    if (!dot || outputs.has(dot.d)) return;
    const rs = readers.get(dot.d) ?? [];
    if (rs.length !== 1) return;
    // A kernel takes one product: `a @ b + c @ d` fuses the first alone.
    const r = out[rs[0]!]!;
    if (r.kind !== "kernel" || r.kernel.kind !== "elementwise") return;
    const k = r.kernel;
    const j = r.inputs.indexOf(dot.d);
    if (`${k.shape}` !== `${dot.d.aval.shape}` || !readsInPlace(k, j)) return;
    out[rs[0]!] = merged(dot, r, k, j, index);
    out[i] = null;
  });
  return out.filter((s): s is Step => s !== null);
}

function merged(
  dot: { e: Eqn; x: Var; y: Var; d: Var },
  r: KernelStep,
  k: FusedElementwise,
  j: number,
  index: ReadonlyMap<Eqn, number>,
): KernelStep {
  const inputs = r.inputs.filter((v) => v !== dot.d);
  const at = (v: Var): number => {
    const i = inputs.indexOf(v);
    return i >= 0 ? i : inputs.push(v) - 1;
  };
  const lhs = at(dot.x), rhs = at(dot.y);
  const nodes = k.nodes.map((n): FusedNode =>
    n.kind !== "load"
      ? n
      : n.input === j
      ? { kind: "reduced", index: 0, dtype: "float32" }
      : { ...n, input: at(r.inputs[n.input]!) }
  );
  const eqns = [dot.e, ...r.eqns].sort((p, q) => index.get(p)! - index.get(q)!);
  const kernel: FusedDot = {
    kind: "dot",
    lhs,
    rhs,
    lhsShape: [...dot.x.aval.shape],
    rhsShape: [...dot.y.aval.shape],
    dims: dot.e.params as DotGeneralParams,
    shape: k.shape,
    nodes,
    outputs: k.outputs,
  };
  return Object.freeze({
    kind: "kernel",
    kernel,
    inputs: Object.freeze(inputs),
    outputs: r.outputs,
    eqns: Object.freeze(eqns),
  });
}
