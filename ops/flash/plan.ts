/**
 * Planning a fused attention: the score and mask functions are traced
 * (jit's tracer) into the node expressions of a {@link FlashKernel}; the
 * tensors they close over (outer transforms' tracers included) become its
 * captured inputs, and the score's partial derivatives are traced too
 * (`jvp` of the score with respect to each dot product and each captured
 * float tensor).
 *
 * @module
 */

import { bind, scalar } from "../core.ts";
import { type Aval, broadcastShapes, fmtShape } from "../dtype.ts";
import type { Tensor } from "../tensor.ts";
import { add } from "../elementwise.ts";
import { checkOptions } from "../_options.ts";
import { backendOf } from "../_convert.ts";
import { traceFlat } from "../jit/trace.ts";
import { jvp } from "../transforms/jvp.ts";
import type {
  FlashKernel,
  FlashMask,
  FlashNode,
  FlashNormaliser,
  FlashScore,
} from "../backends/flash.ts";
import { convertProgram, Unfusable } from "./_nodes.ts";
import { NodeBuilder, prune, type Slot, SlotTable } from "./_builder.ts";

/** Options of {@link flashAttention}, {@link flashWeights} and {@link flashPlan}. */
export interface FlashOptions {
  /** A second query matrix, `[..., Tq, d]` like q: the score sees two dot products. */
  readonly q2?: Tensor | undefined;
  /**
   * The score from the dot products `[q·kᵀ]` (or `[q·kᵀ, q2·kᵀ]`), each
   * `[...batch, Tq, Tk]`; elementwise ops only (default: their sum).
   */
  readonly score?: ((dots: readonly Tensor[]) => Tensor) | undefined;
  /** A bool mask broadcasting to `[...batch, Tq, Tk]`: true where a key is visible. */
  readonly mask?: (() => Tensor) | undefined;
  /** Softmax over visible keys (default) or the masked scores themselves. */
  readonly normaliser?: FlashNormaliser | undefined;
}

/** A fusable attention: the kernel and the primitive's operands (q's, k, v, captured). */
export interface FlashPlanned {
  /** The computation, as data. */
  readonly kernel: FlashKernel;
  /** `[q, (q2), k, v, ...captured]`, broadcast to the kernel's batch shape. */
  readonly operands: readonly Tensor[];
}

/** What {@link flashPlan} returns: a kernel, or why there is none. */
export type FlashPlan = FlashPlanned | { readonly reason: string };

const OPTIONS = ["q2", "score", "mask", "normaliser"];

function float(op: string, name: string, x: Tensor): void {
  if (x.dtype !== "float32" || x.ndim < 2) {
    throw new TypeError(
      `${op}: ${name} must be float32 [..., T, d], got ${x.dtype}${
        fmtShape(x.shape)
      }`,
    );
  }
}

/** `x [..., T, w]` broadcast to `[...batch, T, w]`. */
function toBatch(x: Tensor, batch: readonly number[]): Tensor {
  const shape = [...batch, ...x.shape.slice(-2)];
  if (shape.length === x.ndim && shape.every((n, i) => n === x.shape[i])) {
    return x;
  }
  const lead = shape.length - x.ndim;
  return bind("broadcast_in_dim", [x], {
    shape,
    dims: x.shape.map((_, i) => i + lead),
  });
}

/** Evaluates node list `nodes` with tensor ops: dots and loads given as grid tensors. */
function evalNodes(
  nodes: readonly FlashNode[],
  dots: readonly Tensor[],
  loads: readonly Tensor[],
  like: Tensor,
): Tensor[] {
  const vals: Tensor[] = [];
  const backend = backendOf([like]);
  for (const n of nodes) {
    if (n.kind === "dot") vals.push(dots[n.index]!);
    else if (n.kind === "load") vals.push(loads[n.input]!);
    else if (n.kind === "literal") vals.push(scalar(n.value, n.dtype, backend));
    else if (n.kind === "op") {
      vals.push(bind(n.prim, n.args.map((a) => vals[a]!), n.params));
    }
  }
  return vals;
}

/** Traces `fn` and checks that it returns one tensor of `dtype` that broadcasts to `grid`. */
function traceOne(
  what: string,
  fn: (ins: Tensor[]) => unknown,
  avals: readonly Aval[],
  dtype: string,
  grid: readonly number[],
) {
  const t = traceFlat(`flashAttention ${what}`, fn, avals);
  const out = t.program.outputs;
  if (t.outNumbers.length !== 1 || out.length !== 1) {
    throw new TypeError(`flashAttention: the ${what} must return one tensor`);
  }
  const a = out[0]!.aval;
  const lead = grid.length - a.shape.length;
  if (
    a.dtype !== dtype || lead < 0 ||
    !a.shape.every((n, i) => n === 1 || n === grid[i + lead])
  ) {
    throw new TypeError(
      `flashAttention: the ${what} must be ${dtype} broadcasting to ${
        fmtShape(grid)
      }, got ${a.dtype}${fmtShape(a.shape)}`,
    );
  }
  return t.program;
}

/**
 * Plans attention of `q [..., Tq, d]`, `k [..., Tk, d]`, `v [..., Tk, dv]`
 * as one flash kernel, or says why it cannot be fused (a score that
 * reduces, sorts or multiplies matrices of the dot products). Shapes
 * and dtypes that are wrong are a TypeError, never a reason.
 *
 * @example A scaled score with a causal mask is one kernel
 * ```ts
 * import { arange, flashPlan, greaterEqual, mul, ones, reshape } from "@heed/heed";
 * import { assertEquals } from "@std/assert";
 *
 * const q = ones([2, 3, 4]), k = ones([2, 5, 4]), v = ones([2, 5, 6]);
 * const plan = flashPlan(q, k, v, {
 *   score: ([r]) => mul(r!, 0.5),
 *   mask: () => greaterEqual(reshape(arange(3), [3, 1]), arange(5)),
 * });
 * if ("reason" in plan) throw new Error(plan.reason);
 * assertEquals(plan.kernel.batch, [2]);
 * ```
 */
export function flashPlan(
  q: Tensor,
  k: Tensor,
  v: Tensor,
  opts?: FlashOptions,
): FlashPlan {
  const op = "flashPlan";
  checkOptions(op, opts, OPTIONS);
  const q2 = opts?.q2;
  float(op, "q", q);
  float(op, "k", k);
  float(op, "v", v);
  if (q2) float(op, "q2", q2);
  const [tq, d] = q.shape.slice(-2) as [number, number];
  const [tk, dk] = k.shape.slice(-2) as [number, number];
  const [tv, dv] = v.shape.slice(-2) as [number, number];
  const q2Bad = q2 && (q2.shape.at(-2) !== tq || q2.shape.at(-1) !== d);
  if (dk !== d || tv !== tk || q2Bad) {
    throw new TypeError(
      `${op}: q ${fmtShape(q.shape)}${
        q2 ? `, q2 ${fmtShape(q2.shape)}` : ""
      }, k ${fmtShape(k.shape)} and v ${
        fmtShape(v.shape)
      } do not fit [..., Tq, d], [..., Tk, d], [..., Tk, dv]`,
    );
  }
  const normaliser = opts?.normaliser ?? "softmax";
  if (normaliser !== "softmax" && normaliser !== "none") {
    throw new TypeError(
      `${op}: normaliser must be "softmax" or "none", got ${
        JSON.stringify(normaliser)
      }`,
    );
  }
  const qs = q2 ? [q, q2] : [q];
  const batch = broadcastShapes(
    op,
    ...[...qs, k, v].map((x) => x.shape.slice(0, -2)),
  );
  const grid = [...batch, tq, tk];
  const score = opts?.score ??
    ((r: readonly Tensor[]) => (r.length === 1 ? r[0]! : add(r[0]!, r[1]!)));
  const table = new SlotTable();
  let planned: { score: FlashScore; mask: FlashMask | null; slots: Slot[] };
  try {
    planned = planExpressions(q, grid, qs.length, table, score, opts?.mask);
  } catch (e) {
    if (e instanceof Unfusable) return { reason: e.message };
    throw e;
  }
  const kernel: FlashKernel = {
    batch,
    tq,
    tk,
    d,
    dv,
    queries: qs.length,
    captured: planned.slots.map((s) => ({
      shape: [...s.tensor.shape],
      dtype: s.tensor.dtype,
    })),
    score: planned.score,
    mask: planned.mask,
    normaliser,
  };
  const operands = [
    ...[...qs, k, v].map((x) => toBatch(x, batch)),
    ...planned.slots.map((s) => s.tensor),
  ];
  return { kernel, operands };
}

/** The score (value and partials) and mask node lists, and the captured slots they read. */
function planExpressions(
  like: Tensor,
  grid: readonly number[],
  nq: number,
  table: SlotTable,
  score: (dots: readonly Tensor[]) => Tensor,
  mask: (() => Tensor) | undefined,
): { score: FlashScore; mask: FlashMask | null; slots: Slot[] } {
  const dotAval: Aval = { shape: grid, dtype: "float32" };
  // 1. The user's score, as nodes over dots and loads.
  const p1 = traceOne(
    "score",
    (ins) => score(ins),
    Array(nq).fill(dotAval),
    "float32",
    grid,
  );
  const stage = new NodeBuilder(grid, new SlotTable());
  const dotNodes = Array.from(
    { length: nq },
    (_, index) => stage.add({ kind: "dot", index, dtype: "float32" }),
  );
  const s1 = convertProgram(stage, p1, dotNodes, "score")(p1.outputs[0]!);
  const one = prune(stage.nodes, [s1]);
  const sAt = one.map.get(s1)!;
  const slots1 = stage.table.slots;
  // 2. Its partial derivatives: jvp with respect to each dot and each float load.
  const loadAvals = slots1.map((s): Aval => ({
    shape: grid,
    dtype: s.tensor.dtype,
  }));
  const floatSlots = slots1.flatMap((s, i) =>
    s.tensor.dtype === "float32" ? [i] : []
  );
  const p2 = traceFlat("flashAttention score", (ins) => {
    const dots = ins.slice(0, nq), loads = ins.slice(nq);
    const f = (ds: readonly Tensor[], ls: readonly Tensor[]) =>
      evalNodes(one.nodes, ds, ls, like)[sAt]!;
    const unit = scalar(1, "float32", backendOf([like]));
    const ones = bind("broadcast_in_dim", [unit], {
      shape: [...grid],
      dims: [],
    });
    const with_ = (xs: readonly Tensor[], i: number, x: Tensor) =>
      xs.map((y, j) => (j === i ? x : y));
    return [
      f(dots, loads),
      ...dots.map((r, i) =>
        jvp((x: Tensor) => f(with_(dots, i, x), loads), [r], [ones])[1]
      ),
      ...floatSlots.map((c) =>
        jvp((x: Tensor) => f(dots, with_(loads, c, x)), [loads[c]!], [ones])[1]
      ),
    ];
  }, [...Array(nq).fill(dotAval), ...loadAvals]).program;
  const b = new NodeBuilder(grid, table);
  const inputs = [
    ...Array.from(
      { length: nq },
      (_, index) => b.add({ kind: "dot", index, dtype: "float32" }),
    ),
    ...slots1.map((s) => b.loadSlot(s)),
  ];
  const nodeOf = convertProgram(b, p2, inputs, "score");
  const outs = p2.outputs.map(nodeOf);
  // 3. The mask, over loads only.
  let maskRoot: { b: NodeBuilder; m: number } | null = null;
  if (mask) {
    const pm = traceOne("mask", () => mask(), [], "bool", grid);
    const mb = new NodeBuilder(grid, table);
    maskRoot = { b: mb, m: convertProgram(mb, pm, [], "mask")(pm.outputs[0]!) };
  }
  // 4. Prune, and number the captured inputs that are read.
  const sp = prune(b.nodes, outs);
  const mp = maskRoot ? prune(maskRoot.b.nodes, [maskRoot.m]) : null;
  const used = new Map<number, number>();
  const slots: Slot[] = [];
  const renumber = (ns: FlashNode[]) =>
    ns.map((n) => {
      if (n.kind !== "load") return n;
      let at = used.get(n.input);
      if (at === undefined) {
        used.set(n.input, at = slots.length);
        slots.push(table.slots[n.input]!);
      }
      return { ...n, input: at };
    });
  const scoreNodes = renumber(sp.nodes);
  const maskNodes = mp ? renumber(mp.nodes) : null;
  const partialOf = new Map<number, number>(); // final slot → partial node
  floatSlots.forEach((c, i) => {
    const input = (b.nodes[inputs[nq + c]!] as { input: number }).input;
    const at = used.get(input);
    const read = scoreNodes.some((n) => n.kind === "load" && n.input === at);
    if (at !== undefined && read) {
      partialOf.set(at, sp.map.get(outs[1 + nq + i]!)!);
    }
  });
  return {
    score: {
      nodes: scoreNodes,
      value: sp.map.get(outs[0]!)!,
      partials: {
        dots: outs.slice(1, 1 + nq).map((o) => sp.map.get(o)!),
        captured: slots.map((_, c) => partialOf.get(c) ?? null),
      },
    },
    mask: maskNodes && mp
      ? { nodes: maskNodes, value: mp.map.get(maskRoot!.m)! }
      : null,
    slots,
  };
}
