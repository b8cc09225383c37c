/**
 * Which wasm grid kernel serves a primitive, and how its operands are laid
 * over the grid: elementwise ops broadcast by zero strides, layout ops
 * (transpose, broadcast, slice, pad, concatenate) are strided copies, and
 * reductions over trailing or leading axes are row or column kernels
 * (other axes are first moved last by a copy). {@link runKernel} returns
 * false when no kernel fits; the backend then runs the CPU reference
 * kernel on views of the wasm memory.
 *
 * @module
 */

import { broadcastView, contiguous, prod } from "../_cpu_common.ts";
import { type Aval, type DType, sizeOf } from "../../dtype.ts";
import type { Params, Primitive } from "../../primitives.ts";
import type { Arena } from "./_arena.ts";
import {
  type GridContext,
  type GridOp,
  planGrid,
  runGrid,
  toRows,
} from "./_grid.ts";
import { UNARY_F32 } from "./_kernels.ts";

/** An operand: its byte address and abstract value. */
export interface Ref {
  /** Byte address of element 0. */
  readonly ptr: number;
  /** Shape and dtype. */
  readonly aval: Aval;
}

/** What the kernels need from the backend besides the grid. */
export interface DispatchContext extends GridContext {
  /** The allocator (temporaries, the pad value). */
  readonly arena: Arena;
}

const BYTES: Record<DType, 1 | 4> = { float32: 4, int32: 4, bool: 1 };
const DT: Record<DType, string> = {
  float32: "f32",
  int32: "i32",
  bool: "bool",
};
const ARITH = new Set<Primitive>(["add", "sub", "mul", "div", "max", "min"]);
const INT_ARITH = new Set<Primitive>(["add", "sub", "mul"]);
const COMPARES = new Set<Primitive>(["eq", "ne", "lt", "le", "gt", "ge"]);

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

/** The elementwise kernel of `prim` on these dtypes, or null. */
function elementwiseKernel(
  prim: Primitive,
  ins: readonly Ref[],
  out: Aval,
): string | null {
  const dt = ins[0]!.aval.dtype;
  if (ins.length === 1) {
    if (prim === "not") return dt === "bool" ? "not" : null;
    if (prim === "neg" && dt === "int32") return "neg_i32";
    return dt === "float32" && prim in UNARY_F32 ? `un_${prim}` : null;
  }
  if (prim === "select") {
    const [c, t, e] = ins as [Ref, Ref, Ref];
    const ok = c.aval.dtype === "bool" && BYTES[out.dtype] === 4 &&
      t.aval.dtype === out.dtype && e.aval.dtype === out.dtype;
    return ok ? "select4" : null;
  }
  if (ins.length !== 2 || ins[1]!.aval.dtype !== dt) return null;
  if (ARITH.has(prim)) {
    const ok = dt === "float32" || (dt === "int32" && INT_ARITH.has(prim));
    return ok ? `bin_${prim}_${DT[dt]}` : null;
  }
  if (COMPARES.has(prim)) return dt === "bool" ? null : `cmp_${prim}_${DT[dt]}`;
  if (prim === "and" || prim === "or") return dt === "bool" ? prim : null;
  return null;
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

function layout(
  ctx: DispatchContext,
  prim: Primitive,
  ins: readonly Ref[],
  params: unknown,
  out: Aval,
  o: number,
): boolean {
  const x = ins[0]!, bytes = BYTES[out.dtype];
  const own = contiguous(x.aval.shape).strides;
  const to = dense(o, out);
  switch (prim) {
    case "transpose": {
      const { perm } = params as Params<"transpose">;
      const strides = perm.map((a) => own[a]!);
      return copy(ctx, out.shape, to, { ptr: x.ptr, bytes, strides });
    }
    case "broadcast_in_dim": {
      const { dims } = params as Params<"broadcast_in_dim">;
      const strides = out.shape.map(() => 0);
      dims.forEach((d, i) => x.aval.shape[i] !== 1 && (strides[d] = own[i]!));
      return copy(ctx, out.shape, to, { ptr: x.ptr, bytes, strides });
    }
    case "slice": {
      const { start } = params as Params<"slice">;
      const off = start.reduce((s, v, i) => s + v * own[i]!, 0);
      const src = { ptr: x.ptr + off * bytes, bytes, strides: own };
      return copy(ctx, out.shape, to, src);
    }
    case "pad": {
      const { lo, hi, value } = params as Params<"pad">;
      if (lo.some((v) => v < 0) || hi.some((v) => v < 0)) return false;
      const a = ctx.arena, slot = a.scratch;
      if (out.dtype === "float32") a.f32[slot / 4] = value;
      else if (out.dtype === "int32") a.i32[slot / 4] = value;
      else a.u8[slot] = value;
      const fill = { ptr: slot, bytes, strides: out.shape.map(() => 0) };
      if (!copy(ctx, out.shape, to, fill)) return false;
      const off = lo.reduce((s, v, i) => s + v * to.strides[i]!, 0);
      const inner = { ptr: o + off * bytes, bytes, strides: to.strides };
      return copy(ctx, x.aval.shape, inner, dense(x.ptr, x.aval));
    }
    case "concatenate": {
      const { axis } = params as Params<"concatenate">;
      let at = 0;
      for (const y of ins) {
        const ptr = o + at * to.strides[axis]! * bytes;
        const dst = { ptr, bytes, strides: to.strides };
        // On false the CPU reference rewrites the whole output.
        if (!copy(ctx, y.aval.shape, dst, dense(y.ptr, y.aval))) return false;
        at += y.aval.shape[axis]!;
      }
      return true;
    }
    case "gather": {
      const { axis } = params as Params<"gather">;
      const xs = x.aval.shape, n = xs[axis]!, idx = ins[1]!;
      if (bytes !== 4 || n === 0 || idx.aval.dtype !== "int32") return false;
      const m = sizeOf(idx.aval.shape);
      ctx.ex.gather4!(
        o,
        x.ptr,
        idx.ptr,
        prod(xs, 0, axis),
        n,
        m,
        prod(xs, axis + 1),
      );
      return true;
    }
  }
  return false;
}

const REDUCE: Partial<Record<Primitive, string>> = {
  reduce_sum: "sum",
  reduce_max: "max",
  reduce_min: "min",
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

/** Runs `prim` with a wasm kernel into `o`; false if none fits. */
export function runKernel(
  ctx: DispatchContext,
  prim: Primitive,
  ins: readonly Ref[],
  params: unknown,
  out: Aval,
  o: number,
): boolean {
  if (ins.length === 0) return false;
  const kind = REDUCE[prim];
  if (kind) {
    return reduce(ctx, kind, ins[0]!, (params as Params<"reduce_sum">).axes, o);
  }
  if (prim === "convert_element_type") {
    const from = DT[ins[0]!.aval.dtype], to = DT[out.dtype];
    return elementwise(ctx, `${from}_${to}`, out, o, ins);
  }
  const ew = elementwiseKernel(prim, ins, out);
  if (ew) return elementwise(ctx, ew, out, o, ins);
  return layout(ctx, prim, ins, params, out, o);
}
