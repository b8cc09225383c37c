// Flash node lists under construction: equal nodes made once, ops on
// literals folded, and the captured inputs (a tensor and the grid strides
// it is read with) shared by the score and the mask. Private to ops/flash/.

import { type DType, fmtShape, type HostArray } from "../dtype.ts";
import { runPlainKernel } from "../backends/_cpu_kernels.ts";
import type { Tensor } from "../tensor.ts";
import type { FlashNode } from "../backends/flash.ts";

/** A strided read of a tensor computed outside the kernel, over a value's own shape. */
export interface View {
  readonly tensor: Tensor;
  readonly offset: number;
  readonly strides: readonly number[];
}

/** One captured input of the kernel: a tensor and the grid strides it is read with. */
export interface Slot {
  /** The value (q, k, v and captured tensors are operands of the primitive). */
  readonly tensor: Tensor;
  /** Offset of grid element 0. */
  readonly offset: number;
  /** One stride per grid axis. */
  readonly strides: readonly number[];
}

/** Keys that tell equal nodes apart (NaN, ±Infinity and -0 spelt out). */
function keyOf(n: FlashNode): string {
  return JSON.stringify(
    n,
    (_, v) =>
      typeof v === "number" && (!Number.isFinite(v) || Object.is(v, -0))
        ? `#${Object.is(v, -0) ? "-0" : String(v)}`
        : v,
  );
}

/** Captured inputs shared by node lists: one per tensor and read pattern. */
export class SlotTable {
  /** Captured inputs, in slot order. */
  readonly slots: Slot[] = [];
  #keys = new Map<Tensor, Map<string, number>>();

  /** The slot reading `tensor` at `offset` with grid `strides`. */
  slot(tensor: Tensor, offset: number, strides: readonly number[]): number {
    let byPattern = this.#keys.get(tensor);
    if (!byPattern) this.#keys.set(tensor, byPattern = new Map());
    const key = `${offset}:${strides.join(",")}`;
    let at = byPattern.get(key);
    if (at === undefined) {
      at = this.slots.push({ tensor, offset, strides }) - 1;
      byPattern.set(key, at);
    }
    return at;
  }
}

/** A node list over the grid; equal nodes are made once. */
export class NodeBuilder {
  /** The grid shape. */
  readonly grid: readonly number[];
  /** Where loads find their captured inputs. */
  readonly table: SlotTable;
  /** The nodes, in SSA order. */
  readonly nodes: FlashNode[] = [];
  #keys = new Map<string, number>();

  /** A builder over `grid` reading captured inputs of `table`. */
  constructor(grid: readonly number[], table: SlotTable) {
    this.grid = grid;
    this.table = table;
  }

  /** The node `n` (an existing equal one if there is one). */
  add(node: FlashNode): number {
    const n = this.#folded(node);
    const key = keyOf(n);
    let at = this.#keys.get(key);
    if (at === undefined) {
      at = this.nodes.push(n) - 1;
      this.#keys.set(key, at);
    }
    return at;
  }

  /** An op of literals as a literal (the CPU kernel's value), else `n`. */
  #folded(n: FlashNode): FlashNode {
    if (n.kind !== "op") return n;
    const args = n.args.map((a) => this.nodes[a]!);
    if (!args.every((a) => a.kind === "literal")) return n;
    const operands = args.map((a) => ({
      handle: hostScalar(a.value, a.dtype),
      aval: { shape: [], dtype: a.dtype },
    }));
    const out = runPlainKernel(n.prim, operands, n.params, {
      shape: [],
      dtype: n.dtype,
    });
    return { kind: "literal", value: out[0]!, dtype: n.dtype };
  }

  /** A load node of slot `s`. */
  loadSlot(s: Slot): number {
    const input = this.table.slot(s.tensor, s.offset, s.strides);
    const { offset, strides } = s, dtype = s.tensor.dtype;
    return this.add({ kind: "load", input, offset, strides, dtype });
  }

  /** A load node of `view` (over `shape`), broadcast to the grid. */
  load(view: View, shape: readonly number[], what: string): number {
    const g = this.grid;
    const extra = shape.length - g.length;
    if (extra > 0) {
      // Leading unit axes beyond the grid's rank read nothing: drop them.
      if (shape.slice(0, extra).some((n) => n !== 1)) {
        throw broadcastError(what, shape, g);
      }
      const strides = view.strides.slice(extra);
      return this.load({ ...view, strides }, shape.slice(extra), what);
    }
    const lead = g.length - shape.length;
    const strides = g.map((n, a) => {
      const ax = a - lead;
      if (ax < 0 || shape[ax] === 1) return 0;
      if (shape[ax] !== n) throw broadcastError(what, shape, g);
      return view.strides[ax]!;
    });
    return this.loadSlot({ tensor: view.tensor, offset: view.offset, strides });
  }
}

function broadcastError(
  what: string,
  shape: readonly number[],
  grid: readonly number[],
): TypeError {
  return new TypeError(
    `flashAttention: ${what} of shape ${
      fmtShape(shape)
    } does not broadcast to the scores' shape ${fmtShape(grid)}`,
  );
}

/** A one-element host array holding `value` in `dtype`. */
function hostScalar(value: number, dtype: DType): HostArray {
  const a = dtype === "float32"
    ? new Float32Array(1)
    : dtype === "int32"
    ? new Int32Array(1)
    : new Uint8Array(1);
  a[0] = value;
  return a;
}

/** Whether `shape` broadcasts to `grid` (right-aligned). */
export function fitsGrid(
  shape: readonly number[],
  grid: readonly number[],
): boolean {
  const lead = grid.length - shape.length;
  return lead >= 0 && shape.every((n, i) => n === 1 || n === grid[i + lead]);
}

/** Nodes reachable from `roots`, renumbered in order; `map[old]` is the new index. */
export function prune(
  nodes: readonly FlashNode[],
  roots: readonly number[],
): { nodes: FlashNode[]; map: Map<number, number> } {
  const live = new Set<number>();
  const visit = (i: number) => {
    if (live.has(i)) return;
    live.add(i);
    const n = nodes[i]!;
    if (n.kind === "op") n.args.forEach(visit);
  };
  roots.forEach(visit);
  const map = new Map<number, number>();
  const out: FlashNode[] = [];
  nodes.forEach((n, i) => {
    if (!live.has(i)) return;
    map.set(i, out.length);
    out.push(
      n.kind === "op" ? { ...n, args: n.args.map((a) => map.get(a)!) } : n,
    );
  });
  return { nodes: out, map };
}
