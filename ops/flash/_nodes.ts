// From a traced program to flash nodes: every value is evaluated over the
// grid `[...batch, Tq, Tk]`. Dots are `dot` nodes; closed-over tensors
// are read by strided loads (broadcasts, transposes, slices and some
// reshapes are only strides); elementwise ops are `op` nodes; other
// values that do not depend on the dots are computed outside the kernel
// (hoisted) and read like closed-over tensors. A dot-dependent value
// that is not elementwise cannot be fused: a reason says which primitive.
// Private to ops/flash/.

import { bind, scalar } from "../core.ts";
import { backendOf } from "../_convert.ts";
import { sizeOf, stridesOf } from "../dtype.ts";
import {
  ELEMENTWISE_PRIMITIVES,
  type ElementwisePrimitive,
  type Params,
  type Primitive,
} from "../primitives.ts";
import type { Tensor } from "../tensor.ts";
import type { Atom, Eqn, Program, Var } from "../jit/program.ts";
import { fitsGrid, type NodeBuilder, type View } from "./_builder.ts";

const ELEMENTWISE = new Set<Primitive>(ELEMENTWISE_PRIMITIVES);

/** A value that cannot be fused, and why. */
export class Unfusable extends Error {}

/** `shape` without unit axes. */
const squeezed = (s: readonly number[]) => s.filter((n) => n !== 1);

/** A view through a layout op, or null where strides cannot say it. */
function viewThrough(e: Eqn, x: View, inShape: readonly number[]): View | null {
  const out = e.outs[0]!.aval.shape;
  switch (e.prim) {
    case "broadcast_in_dim": {
      const { dims } = e.params as Params<"broadcast_in_dim">;
      const strides = out.map((n, o) => {
        const i = dims.indexOf(o);
        return i < 0 || (inShape[i] === 1 && n !== 1) ? 0 : x.strides[i]!;
      });
      return { ...x, strides };
    }
    case "transpose": {
      const { perm } = e.params as Params<"transpose">;
      return { ...x, strides: perm.map((a) => x.strides[a]!) };
    }
    case "slice": {
      const { start } = e.params as Params<"slice">;
      const offset = start.reduce((o, s, i) => o + s * x.strides[i]!, x.offset);
      return { ...x, offset };
    }
    case "reshape": {
      const dense = stridesOf(inShape);
      if (inShape.every((n, i) => n === 1 || dense[i] === x.strides[i])) {
        return { ...x, strides: stridesOf(out) }; // contiguous: any reshape
      }
      const kept = inShape.map((n, i) => [n, x.strides[i]!]).filter(([n]) =>
        n !== 1
      );
      if (squeezed(inShape).join() !== squeezed(out).join()) return null;
      let k = 0;
      return {
        ...x,
        strides: out.map((n) => (n === 1 ? 0 : kept[k++]![1]!)),
      };
    }
    default:
      return null;
  }
}

/**
 * Converts program `p` into nodes of `b`: `inputs[i]` is the node of
 * program input i (or null where it is not a node input), `what` names
 * the function in errors. Returns the node of each requested atom.
 */
export function convertProgram(
  b: NodeBuilder,
  p: Program,
  inputs: readonly (number | null)[],
  what: string,
): (atom: Atom) => number {
  const defs = new Map<Var, Eqn>();
  for (const e of p.eqns) defs.set(e.outs[0]!, e);
  const consts = new Map<Var, Tensor>();
  p.consts.forEach((v, i) => consts.set(v, p.constValues[i]!));
  const inputNode = new Map<Var, number>();
  p.inputs.forEach((v, i) => {
    const n = inputs[i];
    if (n !== null && n !== undefined) inputNode.set(v, n);
  });
  // Whether a variable depends on a node input (the dots).
  const dependent = new Set<Var>(inputNode.keys());
  for (const e of p.eqns) {
    if (e.inputs.some((a) => a.kind === "var" && dependent.has(a))) {
      dependent.add(e.outs[0]!);
    }
  }
  const values = new Map<Var, Tensor>();
  // The value of an independent variable, computed outside the kernel.
  const valueOf = (v: Var): Tensor => {
    const c = consts.get(v) ?? values.get(v);
    if (c) return c;
    const e = defs.get(v)!;
    const vars = e.inputs.flatMap((
      a,
    ) => (a.kind === "var" ? [valueOf(a)] : []));
    const backend = backendOf(vars);
    const args = e.inputs.map((a) =>
      a.kind === "var" ? valueOf(a) : scalar(a.value, a.aval.dtype, backend)
    );
    const t = bind(e.prim, args, e.params);
    values.set(v, t);
    return t;
  };
  const views = new Map<Var, View | null>();
  const viewOf = (v: Var): View | null => {
    if (views.has(v)) return views.get(v)!;
    let view: View | null = null;
    const c = consts.get(v);
    if (c) view = { tensor: c, offset: 0, strides: stridesOf(c.shape) };
    else {
      const e = defs.get(v)!;
      const x = e.inputs[0];
      const inner = x?.kind === "var" && !ELEMENTWISE.has(e.prim)
        ? viewOf(x)
        : null;
      if (inner && x?.kind === "var") {
        view = viewThrough(e, inner, x.aval.shape);
      }
    }
    views.set(v, view);
    return view;
  };
  const nodes = new Map<Var, number>();
  const nodeOf = (a: Atom): number => {
    if (a.kind === "literal") {
      return b.add({ kind: "literal", value: a.value, dtype: a.aval.dtype });
    }
    const known = nodes.get(a) ?? inputNode.get(a);
    if (known !== undefined) return known;
    const n = dependent.has(a) ? dependentNode(a) : independentNode(a);
    nodes.set(a, n);
    return n;
  };
  const elementwise = (e: Eqn): number => {
    const args = e.inputs.map(nodeOf);
    return b.add({
      kind: "op",
      prim: e.prim as ElementwisePrimitive,
      params: e.params as Params<ElementwisePrimitive>,
      args,
      dtype: e.outs[0]!.aval.dtype,
    });
  };
  const independentNode = (v: Var): number => {
    const e = defs.get(v);
    if (e && ELEMENTWISE.has(e.prim) && fitsGrid(v.aval.shape, b.grid)) {
      return elementwise(e);
    }
    const view = viewOf(v);
    if (view) return b.load(view, v.aval.shape, what);
    if (e && keepsIndex(e, b.grid)) return nodeOf(e.inputs[0]!);
    const t = valueOf(v); // hoisted
    return b.load(
      { tensor: t, offset: 0, strides: stridesOf(t.shape) },
      t.shape,
      what,
    );
  };
  const order = new Map<Eqn, number>(p.eqns.map((e, i) => [e, i]));
  const fuses = (e: Eqn) => ELEMENTWISE.has(e.prim) || keepsIndex(e, b.grid);
  // The earliest equation behind `v` that depends on the dots and cannot fuse.
  const firstUnfusable = (v: Var): Eqn => {
    let first: Eqn | null = null;
    const seen = new Set<Var>();
    const walk = (x: Var) => {
      const e = defs.get(x);
      if (seen.has(x) || !e || !dependent.has(x)) return;
      seen.add(x);
      if (!fuses(e) && (!first || order.get(e)! < order.get(first)!)) first = e;
      for (const a of e.inputs) if (a.kind === "var") walk(a);
    };
    walk(v);
    return first ?? defs.get(v)!;
  };
  const dependentNode = (v: Var): number => {
    const e = defs.get(v)!;
    if (ELEMENTWISE.has(e.prim)) return elementwise(e);
    if (keepsIndex(e, b.grid)) return nodeOf(e.inputs[0]!);
    throw new Unfusable(
      `${what}: ${
        firstUnfusable(v).prim
      } of a value that depends on the dot products cannot be fused (only elementwise ops can)`,
    );
  };
  return nodeOf;
}

/**
 * Whether `e` (a broadcast, reshape or transpose) leaves a value read at
 * the grid index unchanged: right-aligned broadcasts, leading unit axes
 * added or dropped, the identity permutation.
 */
function keepsIndex(e: Eqn, grid: readonly number[]): boolean {
  const x = e.inputs[0];
  if (!x) return false;
  const out = e.outs[0]!.aval.shape, xs = x.aval.shape;
  if (!fitsGrid(out, grid)) return false;
  switch (e.prim) {
    case "broadcast_in_dim":
      return (e.params as Params<"broadcast_in_dim">).dims.every((d, i) =>
        d === out.length - xs.length + i
      );
    case "reshape":
      return sizeOf(out) === sizeOf(xs) && leadingOnly(xs, out);
    case "transpose":
      return (e.params as Params<"transpose">).perm.every((a, i) => a === i);
    default:
      return false;
  }
}

/** Whether two shapes differ only by leading unit axes. */
function leadingOnly(a: readonly number[], b: readonly number[]): boolean {
  const strip = (s: readonly number[]) => {
    let i = 0;
    while (i < s.length && s[i] === 1) i++;
    return s.slice(i).join();
  };
  return strip(a) === strip(b);
}
