// Matmul epilogues: a float32 `dot_general` whose product only one
// elementwise kernel reads, element for element (or through the transpose
// that swapping the operands gives, as SGD reads a weight gradient), joins
// that kernel as a dot kernel (`FusedDot`): the product is computed and the
// kernel's expression applied to it before anything is stored. Private to
// ops/jit/passes/.

import { sizeOf, stridesOf } from "../../dtype.ts";
import type {
  FusedDot,
  FusedElementwise,
  FusedNode,
} from "../../backends/fused.ts";
import type { DotGeneralParams } from "../../primitives.ts";
import { type KernelStep, type Step, stepInputs } from "../plan.ts";
import type { Eqn, Var } from "../program.ts";

/** Whether every load of input `j` reads the kernel's index with `strides`. */
function readsAs(
  k: FusedElementwise,
  j: number,
  strides: readonly number[],
): boolean {
  return k.nodes.every((n) =>
    n.kind !== "load" || n.input !== j ||
    (n.offset === 0 &&
      n.strides.every((s, d) => k.shape[d] === 1 || s === strides[d]))
  );
}

interface Dot {
  readonly e: Eqn;
  readonly x: Var;
  readonly y: Var;
  readonly d: Var;
}

/**
 * How kernel `k` reads product `d` as input `j`: in place, in row-major
 * order over the kernel's shape ("same"), as
 * the product of the swapped operands ("swap": `[batch, rhs free, lhs
 * free]`, so `(x·y)ᵀ = yᵀ·xᵀ` is computed as it is read), or neither.
 */
function readOf(
  k: FusedElementwise,
  j: number,
  dot: Dot,
): "same" | "swap" | null {
  const shape = dot.d.aval.shape, st = stridesOf(shape);
  // In place, perhaps through a reshape ([B·T, F] read as [B, T, F]).
  if (
    sizeOf(k.shape) === sizeOf(shape) && readsAs(k, j, stridesOf(k.shape))
  ) return "same";
  const p = dot.e.params as DotGeneralParams;
  const nb = p.lhsBatch.length;
  const nm = dot.x.aval.shape.length - nb - p.lhsContract.length;
  const free = (from: number, n: number) =>
    Array.from({ length: n }, (_, i) => from + i);
  const perm = [
    ...free(0, nb),
    ...free(nb + nm, shape.length - nb - nm),
    ...free(nb, nm),
  ];
  const swapped = perm.map((a) => shape[a]!);
  return `${k.shape}` === `${swapped}` &&
      readsAs(k, j, perm.map((a) => st[a]!))
    ? "swap"
    : null;
}

/** The product `e` defines, if it is a float32 dot of two variables. */
function dotOf(s: Step): Dot | null {
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
    const read = readOf(k, j, dot);
    if (read === null) return;
    out[rs[0]!] = merged(dot, read === "swap", r, k, j, index);
    out[i] = null;
  });
  return out.filter((s): s is Step => s !== null);
}

function merged(
  dot: Dot,
  swap: boolean,
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
  const [x, y] = swap ? [dot.y, dot.x] : [dot.x, dot.y];
  const p = dot.e.params as DotGeneralParams;
  const dims: DotGeneralParams = swap
    ? {
      lhsContract: p.rhsContract,
      rhsContract: p.lhsContract,
      lhsBatch: p.rhsBatch,
      rhsBatch: p.lhsBatch,
    }
    : p;
  const lhs = at(x), rhs = at(y);
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
    lhsShape: [...x.aval.shape],
    rhsShape: [...y.aval.shape],
    dims,
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
