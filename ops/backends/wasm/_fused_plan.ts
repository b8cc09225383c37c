/**
 * The loop nest of a fused kernel on the wasm backend: which pointers the
 * generated function walks, and the loops it runs. Axes of extent 1 are
 * dropped and neighbouring axes that every pointer steps through as one
 * are merged (as `_grid.ts` does for eager kernels), so a contiguous
 * kernel becomes one long loop. The innermost loop of the nest is the
 * vector loop: four lanes at a time along it.
 *
 * Three shapes of nest:
 * - `elementwise`: every axis but the last outside, the last vectorised;
 * - `rows` (a reduction whose last axis is reduced): the kept axes
 *   outside, then the reduced ones, the last vectorised; the four lanes are
 *   combined when a row is done;
 * - `cols` (a reduction whose last axis is kept): the other kept axes
 *   outside, then blocks of four outputs along the last axis, then the
 *   reduced axes inside each block, so each lane accumulates one output.
 *
 * The outermost loop over outputs (the first outer loop, else the vector
 * loop of an elementwise or cols nest) is the split loop: its trip count
 * is a parameter, so that threads can each run a range of it.
 *
 * @module
 */

import { type DType, sizeOf } from "../../dtype.ts";
import {
  type FusedLoad,
  type FusedLoopKernel,
  type FusedReduce,
  reductionsOf,
} from "../fused.ts";

/** Bytes per element of each dtype in the wasm memory. */
export const ELEM_BYTES: Record<DType, 1 | 4> = {
  float32: 4,
  int32: 4,
  bool: 1,
};

/** A pointer the kernel walks: a base address plus a constant byte offset. */
export interface Pointer {
  /** Which base address: the outputs' (0, 1, ...), then the inputs'. */
  readonly param: number;
  /** Added to the base (the load's element offset, in bytes). */
  readonly offsetBytes: number;
}

/** One loop: its trip count and every pointer's byte step per trip. */
export interface Level {
  /** Trips. */
  readonly extent: number;
  /** Bytes each pointer advances per trip (0: it stays). */
  readonly steps: readonly number[];
}

/** How the generated function iterates (see the module comment). */
export interface Plan {
  /** The nest's shape. */
  readonly mode: "elementwise" | "rows" | "cols";
  /** Outputs first (one each), then one pointer per distinct load. */
  readonly pointers: readonly Pointer[];
  /** The pointer of each load node (by node index). */
  readonly loadPointer: ReadonlyMap<number, number>;
  /** Loops outside the vector loop (rows/cols: over kept axes). */
  readonly outer: readonly Level[];
  /** Reduced loops: rows, outside the vector loop; cols, inside it. */
  readonly reduced: readonly Level[];
  /** The vectorised loop. */
  readonly vector: Level;
  /** The split loop (see the module comment), or null (a full reduction). */
  readonly split: "outer" | "vector" | null;
  /** The split loop's trip count (1 without one). */
  readonly splitExtent: number;
  /** Each pointer's byte step per trip of the split loop. */
  readonly splitSteps: readonly number[];
}

interface Axis {
  extent: number;
  reduced: boolean;
  strides: number[]; // elements, one per pointer
}

/** Row-major strides of `shape`, with `skip` axes given stride 0. */
function denseStrides(shape: readonly number[], skip: ReadonlySet<number>) {
  const strides = shape.map(() => 0);
  let s = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    if (skip.has(d)) continue;
    strides[d] = s;
    s *= shape[d]!;
  }
  return strides;
}

/** The loads of a kernel by node index. */
export function loadsOf(kernel: FusedLoopKernel): [number, FusedLoad][] {
  const out: [number, FusedLoad][] = [];
  kernel.nodes.forEach((n, i) => n.kind === "load" && out.push([i, n]));
  return out;
}

/** How many inputs the kernel reads (one more than the largest index). */
export function inputCount(kernel: FusedLoopKernel): number {
  return loadsOf(kernel).reduce((m, [, l]) => Math.max(m, l.input + 1), 0);
}

/** The node written to each output: a reduce kernel's values, then its epilogue's. */
export function outputNodes(kernel: FusedLoopKernel): number[] {
  return kernel.kind === "elementwise" ? [...kernel.outputs] : [
    ...reductionsOf(kernel).map((r) => r.value),
    ...(kernel.epilogue ?? []).map((e) => e.node),
  ];
}

const nRed = (k: FusedReduce) => 1 + (k.more?.length ?? 0);

/** Drops unit axes and merges neighbours that every pointer steps as one. */
function simplify(axes: readonly Axis[]): Axis[] {
  const out: Axis[] = [];
  for (const ax of axes) {
    if (ax.extent === 1) continue;
    const last = out[out.length - 1];
    if (
      last && last.reduced === ax.reduced &&
      last.strides.every((s, k) => s === ax.strides[k]! * ax.extent)
    ) {
      last.extent *= ax.extent;
      last.strides = [...ax.strides];
    } else out.push({ ...ax, strides: [...ax.strides] });
  }
  return out;
}

/**
 * The plan of `kernel`, whose every axis has a positive extent (the caller
 * handles empty kernels without code).
 */
export function planKernel(kernel: FusedLoopKernel): Plan {
  const shape = kernel.shape, rank = shape.length;
  const reducedAxes = new Set(kernel.kind === "reduce" ? kernel.axes : []);
  const outNodes = outputNodes(kernel);
  const nOut = outNodes.length;
  const pointers: Pointer[] = [];
  const strides: number[][] = []; // per pointer, elements per axis
  const bytes: number[] = [];
  outNodes.forEach((node, k) => {
    pointers.push({ param: k, offsetBytes: 0 });
    strides.push(denseStrides(shape, reducedAxes));
    bytes.push(ELEM_BYTES[kernel.nodes[node]!.dtype]);
  });
  const loadPointer = new Map<number, number>();
  // A reduced node reads its reduction's output where it was stored.
  kernel.nodes.forEach((n, i) => {
    if (n.kind !== "reduced") return;
    if (kernel.kind !== "reduce" || !(n.index >= 0 && n.index < nRed(kernel))) {
      throw new RangeError(`fused kernel: node ${i} reads no reduction`);
    }
    loadPointer.set(i, n.index);
  });
  const seen = new Map<string, number>();
  for (const [i, l] of loadsOf(kernel)) {
    if (l.strides.length !== rank) {
      throw new TypeError(
        `fused kernel: load ${i} has ${l.strides.length} strides for ` +
          `${rank} axes`,
      );
    }
    const key = `${l.input}:${l.offset}:${l.strides}:${l.dtype}`;
    let p = seen.get(key);
    if (p === undefined) {
      p = pointers.length;
      seen.set(key, p);
      const b = ELEM_BYTES[l.dtype];
      pointers.push({ param: nOut + l.input, offsetBytes: l.offset * b });
      strides.push([...l.strides]);
      bytes.push(b);
    }
    loadPointer.set(i, p);
  }
  const axes = simplify(shape.map((extent, d) => ({
    extent,
    reduced: reducedAxes.has(d),
    strides: strides.map((s) => s[d]!),
  })));
  const level = (a: Axis): Level => ({
    extent: a.extent,
    steps: a.strides.map((s, k) => s * bytes[k]!),
  });
  const unit: Axis = {
    extent: 1,
    reduced: kernel.kind === "reduce",
    strides: pointers.map(() => 0),
  };
  if (!axes.some((a) => a.reduced === unit.reduced)) axes.push(unit);
  const last = axes[axes.length - 1]!;
  const kept = axes.filter((a) => !a.reduced);
  const red = axes.filter((a) => a.reduced);
  const [mode, outer, reduced, vector] = kernel.kind === "elementwise"
    ? ["elementwise", axes.slice(0, -1), [], last] as const
    : last.reduced
    ? ["rows", kept, red.slice(0, -1), red[red.length - 1]!] as const
    : ["cols", kept.slice(0, -1), red, last] as const;
  const split = outer.length > 0 ? "outer" : mode === "rows" ? null : "vector";
  const splitLevel = split === "outer"
    ? level(outer[0]!)
    : split === "vector"
    ? level(vector)
    : { extent: 1, steps: pointers.map(() => 0) };
  return {
    mode,
    pointers,
    loadPointer,
    outer: outer.map(level),
    reduced: reduced.map(level),
    vector: level(vector),
    split,
    splitExtent: splitLevel.extent,
    splitSteps: splitLevel.steps,
  };
}

/**
 * The element range `[lo, hi]` each input's loads touch over `shape`, by
 * input index (absent for inputs no load reads), or null when `shape` is
 * empty (nothing is read).
 */
export function loadRanges(
  kernel: FusedLoopKernel,
): Map<number, [number, number]> | null {
  if (sizeOf(kernel.shape) === 0) return null;
  const ranges = new Map<number, [number, number]>();
  for (const [, l] of loadsOf(kernel)) {
    let lo = l.offset, hi = l.offset;
    l.strides.forEach((s, d) => {
      const span = (kernel.shape[d]! - 1) * s;
      if (span < 0) lo += span;
      else hi += span;
    });
    const r = ranges.get(l.input);
    ranges.set(
      l.input,
      r ? [Math.min(r[0], lo), Math.max(r[1], hi)] : [lo, hi],
    );
  }
  return ranges;
}
