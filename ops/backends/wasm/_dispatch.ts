/**
 * How the wasm backend runs each primitive: an exhaustive table
 * ({@link KERNELS}; a primitive without an entry fails `deno check`).
 * Elementwise ops broadcast by zero strides, layout ops (transpose,
 * broadcast, slice, pad, concatenate) are strided copies, and reductions
 * over trailing or leading axes are row or column kernels (other axes are
 * first moved last by a copy). An entry returns null where no wasm kernel
 * fits the operands' dtypes or layout, and {@link onCpu} entries always
 * do: the backend then runs the CPU reference kernel on views of the wasm
 * memory, so every primitive works and agrees with the specification.
 *
 * @module
 */

import { broadcastView, contiguous, prod } from "../_cpu_common.ts";
import { tableOf } from "../contract.ts";
import { type Aval, type DType, sizeOf } from "../../dtype.ts";
import {
  BINARY_PRIMITIVES,
  COMPARE_PRIMITIVES,
  ELEMENTWISE_PRIMITIVES,
  type ElementwisePrimitive,
  type Params,
  type Primitive,
  UNARY_PRIMITIVES,
} from "../../primitives.ts";
import type { Arena, Block } from "./_arena.ts";
import {
  type GridContext,
  type GridOp,
  planGrid,
  runGrid,
  toRows,
} from "./_grid.ts";
import { randomUniformInto } from "./_random.ts";
import { type FlashParams, hasFlash } from "../flash.ts";

/** An operand: its byte address and abstract value. */
export interface Ref {
  /** Byte address of element 0. */
  readonly ptr: number;
  /** Shape and dtype. */
  readonly aval: Aval;
}

/** What the kernels need from the backend besides the grid. */
export interface DispatchContext extends GridContext {
  /** The allocator (outputs, temporaries, the pad value). */
  readonly arena: Arena;
  /** The float32 matmul of `_matmul_run.ts`, into a new block. */
  matmul(
    ins: readonly Ref[],
    blocks: readonly Block[],
    params: Params<"dot_general">,
    out: Aval,
  ): Block;
  /** The backend, whose `runFlash` (when it has one) runs `flash_attention`. */
  readonly flash?: object;
}

/**
 * Runs primitive `P` with a wasm kernel into a new block, or returns null
 * when no wasm kernel fits (the backend then runs the CPU reference).
 */
export type WasmKernel<P extends Primitive> = (
  ctx: DispatchContext,
  ins: readonly Ref[],
  blocks: readonly Block[],
  params: Params<P>,
  out: Aval,
) => Block | null;

/** No wasm kernel: the CPU reference runs on views of the wasm memory. */
export function onCpu(): null {
  return null;
}

const BYTES: Record<DType, 1 | 4> = { float32: 4, int32: 4, bool: 1 };
const DT: Record<DType, string> = {
  float32: "f32",
  int32: "i32",
  bool: "bool",
};
const UNARY = new Set<Primitive>(UNARY_PRIMITIVES);
const BINARY = new Set<Primitive>(BINARY_PRIMITIVES);
const COMPARES = new Set<Primitive>(COMPARE_PRIMITIVES);

/** `ops` broadcast over `out` by NumPy's rules, through kernel `name`. */
function elementwise(
  ctx: DispatchContext,
  name: string,
  out: Aval,
  o: number,
  ins: readonly Ref[],
): boolean {
  const ops: GridOp[] = [
    { ptr: o, bytes: BYTES[out.dtype], strides: contiguous(out.shape).strides },
    ...ins.map((x) => ({
      ptr: x.ptr,
      bytes: BYTES[x.aval.dtype],
      strides: broadcastView(x.aval.shape, out.shape).strides,
    })),
  ];
  const g = planGrid(out.shape, ops);
  if (!g) return false;
  runGrid(ctx, name, g);
  return true;
}

/**
 * The name of the grid kernel of `prim` on these dtypes (it may not exist:
 * the caller checks), or null where the dtypes rule wasm out.
 */
function elementwiseName(
  prim: ElementwisePrimitive,
  ins: readonly Ref[],
  out: Aval,
): string | null {
  const dt = ins[0]!.aval.dtype;
  if (prim === "convert_element_type") return `${DT[dt]}_${DT[out.dtype]}`;
  if (prim === "not") return dt === "bool" ? "not" : null;
  if (UNARY.has(prim)) {
    if (dt === "float32") return `un_${prim}`;
    return prim === "neg" && dt === "int32" ? "neg_i32" : null;
  }
  if (prim === "select") {
    const [c, t, e] = ins as [Ref, Ref, Ref];
    const ok = c.aval.dtype === "bool" && BYTES[out.dtype] === 4 &&
      t.aval.dtype === out.dtype && e.aval.dtype === out.dtype;
    return ok ? "select4" : null;
  }
  if (ins[1]!.aval.dtype !== dt) return null;
  if (BINARY.has(prim)) return `bin_${prim}_${DT[dt]}`;
  if (COMPARES.has(prim)) return `cmp_${prim}_${DT[dt]}`;
  return dt === "bool" ? prim : null; // and, or
}

/** An elementwise primitive through its grid kernel, if the engine has one. */
function elementwiseKernel<P extends ElementwisePrimitive>(
  prim: P,
): WasmKernel<P> {
  return into((ctx, ins, _params, out, o) => {
    const name = elementwiseName(prim, ins, out);
    if (name === null || !ctx.kernels.has(name)) return false;
    return elementwise(ctx, name, out, o, ins);
  });
}

/** A kernel that writes into a new block at `o`, returning false if it cannot. */
type IntoKernel<P extends Primitive> = (
  ctx: DispatchContext,
  ins: readonly Ref[],
  params: Params<P>,
  out: Aval,
  o: number,
) => boolean;

/** Allocates the output block for `fn`; releases it and returns null on false. */
function into<P extends Primitive>(fn: IntoKernel<P>): WasmKernel<P> {
  return (ctx, ins, _blocks, params, out) => {
    const o = ctx.arena.alloc(sizeOf(out.shape) * BYTES[out.dtype]);
    if (sizeOf(out.shape) === 0 || fn(ctx, ins, params, out, o.ptr)) return o;
    ctx.arena.release(o);
    return null;
  };
}

/**
 * Copies `src` into `dst` over `shape`: contiguous runs, repeated
 * elements, a 4 × 4 block transpose when the source's unit stride is on
 * another axis, or a plain strided loop (also when `dst` is strided).
 */
export function copy(
  ctx: GridContext,
  shape: readonly number[],
  dst: GridOp,
  src: GridOp,
): boolean {
  const g = planGrid(shape, [dst, src]);
  if (!g) return false;
  const kernel = dst.bytes === 4 ? "copy4" : "copy1";
  const r = g.dims.length - 2, s = g.strides[1]!;
  const cs = s[r + 1]!, cd = g.strides[0]![r + 1]!;
  if (cd !== 1) {
    const extras = [cs * dst.bytes, cd * dst.bytes];
    runGrid(ctx, kernel, g, { mode: 2, extras });
    return true;
  }
  if (cs === 1 || cs === 0) {
    runGrid(ctx, kernel, g, { mode: cs === 1 ? 0 : 1 });
    return true;
  }
  const unit = s.findIndex((x, a) => x === 1 && a <= r && g.dims[a]! >= 4);
  if (dst.bytes === 4 && unit >= 0) {
    if (unit !== r) toRows(g, unit);
    runGrid(ctx, "transpose4", g, { extras: [cs * 4] });
  } else {
    runGrid(ctx, kernel, g, { mode: 2, extras: [cs * dst.bytes, dst.bytes] });
  }
  return true;
}

/** A contiguous operand of `shape` at `ptr`. */
function dense(ptr: number, aval: Aval, offset = 0): GridOp {
  const bytes = BYTES[aval.dtype];
  return {
    ptr: ptr + offset * bytes,
    bytes,
    strides: contiguous(aval.shape).strides,
  };
}

const transposeKernel: IntoKernel<"transpose"> = (ctx, ins, p, out, o) => {
  const x = ins[0]!, own = contiguous(x.aval.shape).strides;
  const strides = p.perm.map((a) => own[a]!);
  const src = { ptr: x.ptr, bytes: BYTES[out.dtype], strides };
  return copy(ctx, out.shape, dense(o, out), src);
};

const broadcastKernel: IntoKernel<"broadcast_in_dim"> = (
  ctx,
  ins,
  p,
  out,
  o,
) => {
  const x = ins[0]!, own = contiguous(x.aval.shape).strides;
  const strides = out.shape.map(() => 0);
  p.dims.forEach((d, i) => x.aval.shape[i] !== 1 && (strides[d] = own[i]!));
  const src = { ptr: x.ptr, bytes: BYTES[out.dtype], strides };
  return copy(ctx, out.shape, dense(o, out), src);
};

const sliceKernel: IntoKernel<"slice"> = (ctx, ins, p, out, o) => {
  const x = ins[0]!, bytes = BYTES[out.dtype];
  const own = contiguous(x.aval.shape).strides;
  const off = p.start.reduce((s, v, i) => s + v * own[i]!, 0);
  const src = { ptr: x.ptr + off * bytes, bytes, strides: own };
  return copy(ctx, out.shape, dense(o, out), src);
};

const padKernel: IntoKernel<"pad"> = (ctx, ins, p, out, o) => {
  const x = ins[0]!, bytes = BYTES[out.dtype], to = dense(o, out);
  if (p.lo.some((v) => v < 0) || p.hi.some((v) => v < 0)) return false;
  const a = ctx.arena, slot = a.scratch;
  if (out.dtype === "float32") a.f32[slot / 4] = p.value;
  else if (out.dtype === "int32") a.i32[slot / 4] = p.value;
  else a.u8[slot] = p.value;
  const fill = { ptr: slot, bytes, strides: out.shape.map(() => 0) };
  if (!copy(ctx, out.shape, to, fill)) return false;
  const off = p.lo.reduce((s, v, i) => s + v * to.strides[i]!, 0);
  const inner = { ptr: o + off * bytes, bytes, strides: to.strides };
  return copy(ctx, x.aval.shape, inner, dense(x.ptr, x.aval));
};

const concatenateKernel: IntoKernel<"concatenate"> = (ctx, ins, p, out, o) => {
  const bytes = BYTES[out.dtype], to = dense(o, out);
  let at = 0;
  for (const y of ins) {
    const ptr = o + at * to.strides[p.axis]! * bytes;
    const dst = { ptr, bytes, strides: to.strides };
    // On false the CPU reference rewrites the whole output.
    if (!copy(ctx, y.aval.shape, dst, dense(y.ptr, y.aval))) return false;
    at += y.aval.shape[p.axis]!;
  }
  return true;
};

const gatherKernel: IntoKernel<"gather"> = (ctx, ins, p, out, o) => {
  const x = ins[0]!, idx = ins[1]!;
  const xs = x.aval.shape, n = xs[p.axis]!;
  if (BYTES[out.dtype] !== 4 || n === 0 || idx.aval.dtype !== "int32") {
    return false;
  }
  const m = sizeOf(idx.aval.shape);
  ctx.ex.gather4!(
    o,
    x.ptr,
    idx.ptr,
    prod(xs, 0, p.axis),
    n,
    m,
    prod(xs, p.axis + 1),
  );
  return true;
};

/**
 * `reduce_sum/max/min` of float32: rows when the axes are trailing,
 * columns when leading, else rows of a copy with the axes moved last.
 */
function reduce(
  ctx: DispatchContext,
  kind: string,
  x: Ref,
  axes: readonly number[],
  o: number,
): boolean {
  const shape = x.aval.shape, rank = shape.length;
  const ax = [...axes].sort((a, b) => a - b);
  const len = prod(ax.map((a) => shape[a]!));
  const kept = sizeOf(shape) / len;
  if (x.aval.dtype !== "float32" || len === 0 || ax.length === 0) return false;
  const out: GridOp = { ptr: o, bytes: 4, strides: [] };
  if (ax.every((a, i) => a === i)) {
    const src: GridOp = { ptr: x.ptr, bytes: 4, strides: [] };
    const g = {
      dims: [len, kept],
      strides: [[0, 1], [kept, 1]],
      ops: [out, src],
    };
    runGrid(ctx, `cols_${kind}`, g, { split: "cols" });
    return true;
  }
  let ptr = x.ptr;
  const moved = !ax.every((a, i) => a === rank - ax.length + i);
  const temp = moved ? ctx.arena.alloc(sizeOf(shape) * 4) : null;
  if (temp) {
    const perm = [...shape.keys()].filter((a) => !ax.includes(a)).concat(ax);
    const own = contiguous(shape).strides;
    const permuted = perm.map((a) => shape[a]!);
    const to = dense(temp.ptr, { shape: permuted, dtype: "float32" });
    const from = { ptr, bytes: 4, strides: perm.map((a) => own[a]!) };
    if (!copy(ctx, permuted, to, from)) {
      ctx.arena.release(temp);
      return false;
    }
    ptr = temp.ptr;
  }
  const src: GridOp = { ptr, bytes: 4, strides: [] };
  const g = { dims: [kept, len], strides: [[1, 0], [len, 1]], ops: [out, src] };
  runGrid(ctx, `rows_${kind}`, g, { split: "rows" });
  if (temp) ctx.arena.release(temp);
  return true;
}

/** `reduce_sum`, `reduce_max` or `reduce_min` of float32 (see {@link reduce}). */
function reduceKernel<P extends "reduce_sum" | "reduce_max" | "reduce_min">(
  kind: "sum" | "max" | "min",
): WasmKernel<P> {
  return into((ctx, ins, p, _out, o) => reduce(ctx, kind, ins[0]!, p.axes, o));
}

/** `dot_general` of float32 operands: packed, blocked and threaded (`_matmul_run.ts`). */
const dotGeneralKernel: WasmKernel<"dot_general"> = (
  ctx,
  ins,
  blocks,
  p,
  out,
) => out.dtype === "float32" ? ctx.matmul(ins, blocks, p, out) : null;

const ELEMENTWISE: { [P in ElementwisePrimitive]: WasmKernel<P> } = tableOf(
  ELEMENTWISE_PRIMITIVES,
  elementwiseKernel,
);

/** The wasm kernel of every primitive; {@link onCpu} where there is none. */
export const KERNELS: { [P in Primitive]: WasmKernel<P> } = {
  ...ELEMENTWISE,
  reduce_sum: reduceKernel("sum"),
  reduce_max: reduceKernel("max"),
  reduce_min: reduceKernel("min"),
  argmax: onCpu,
  argmin: onCpu,
  dot_general: dotGeneralKernel,
  // The backend shares the input's block instead; a copy is the same bytes.
  reshape: into((ctx, ins, _p, out, o) => {
    const flat = { shape: [sizeOf(out.shape)], dtype: out.dtype };
    return copy(ctx, flat.shape, dense(o, flat), dense(ins[0]!.ptr, flat));
  }),
  transpose: into(transposeKernel),
  broadcast_in_dim: into(broadcastKernel),
  slice: into(sliceKernel),
  pad: into(padKernel),
  concatenate: into(concatenateKernel),
  gather: into(gatherKernel),
  scatter_add: onCpu,
  iota: onCpu,
  random_uniform: into((ctx, ins, params, _out, o) =>
    randomUniformInto(ctx, ins[0]!.ptr, params, o)
  ),
  custom_lin: onCpu, // the CPU reference explains that it has no kernel
  // The backend's tiled kernel, else the CPU reference (the meaning).
  flash_attention: (ctx, ins, blocks, params) => {
    if (!ctx.flash || !hasFlash(ctx.flash)) return null;
    const operands = ins.map((x, i) => ({ handle: blocks[i], aval: x.aval }));
    return ctx.flash.runFlash(params as FlashParams, operands) as Block;
  },
};
