/**
 * The score and mask expressions of a flash kernel as SIMD code over one
 * row of a tile (`_flash_codegen.ts`): four keys a step (lanes along j),
 * then single keys (splatted lanes) for the last `bc % 4`. Each load keeps
 * a moving byte pointer: set per batch element ({@link Expr.batch}), per
 * row ({@link Expr.row}), and stepped by its stride along j. Values that
 * do not move along j (literals, loads with a zero j-stride, ops of them)
 * are evaluated once per row. A `dot` node reads its tile of dot products
 * in the scratch at the current cell (`cell` + a constant offset).
 *
 * @module
 */

import type { FlashKernel, FlashNode } from "../flash.ts";
import type { FusedLoad, FusedNode } from "../fused.ts";
import type { Fn, Local } from "./_asm.ts";
import { liveNodes } from "./_fused_check.ts";
import { type Emit, emitOp, type Lanes } from "./_fused_ops.ts";
import { ELEM_BYTES } from "./_fused_plan.ts";

/** What an expression's code reads besides its own nodes. */
export interface ExprContext {
  /** The function being built and its imports. */
  readonly e: Emit;
  /** The kernel. */
  readonly kernel: FlashKernel;
  /** Locals holding each captured tensor's byte address. */
  readonly captured: readonly Local[];
  /** The local holding the current cell's byte address in the scratch. */
  readonly cell: Local;
  /** Byte offset of dot k's tile from the cell. */
  readonly dotTile: (k: number) => number;
}

/** Pushes `p + off` for an access and returns its (non-negative) memarg offset. */
export function addr(f: Fn, p: Local, off: number): number {
  f.get(p);
  if (off < 0) f.i32(off).op("i32.add");
  return Math.max(off, 0);
}

/** One node list (score or mask) compiled against a context. */
export class Expr {
  readonly nodes: readonly FlashNode[];
  /** The v128 local of each node's value. */
  readonly val: readonly Local[];
  readonly #ctx: ExprContext;
  readonly #base = new Map<number, Local>();
  readonly #cur = new Map<number, Local>();
  readonly #invariant: boolean[];
  readonly #rank: number;

  constructor(ctx: ExprContext, nodes: readonly FlashNode[]) {
    this.#ctx = ctx;
    this.nodes = nodes;
    const f = ctx.e.f;
    this.val = nodes.map(() => f.local("v128"));
    this.#rank = ctx.kernel.batch.length + 2;
    const inv: boolean[] = [];
    nodes.forEach((n, i) => {
      if (n.kind === "load") {
        this.#base.set(i, f.local("i32"));
        this.#cur.set(i, f.local("i32"));
      }
      inv[i] = n.kind === "literal" ||
        (n.kind === "load" && n.strides[this.#rank - 1] === 0) ||
        (n.kind === "op" && n.args.every((a) => inv[a]));
    });
    this.#invariant = inv;
  }

  /** The nodes `roots` need (checking SSA order, arities and dtypes). */
  need(roots: readonly number[]): boolean[] {
    return liveNodes(this.nodes as readonly FusedNode[], roots);
  }

  /** Sets the literals' locals (once, at function entry). */
  literals(): void {
    this.nodes.forEach((n, i) => {
      if (n.kind === "literal") this.#eval(i, 1);
    });
  }

  /** Points every load at batch element `b` (a local): `cap + size·(offset + Σ idx·stride)`. */
  batch(b: Local): void {
    const f = this.#ctx.e.f, batch = this.#ctx.kernel.batch;
    this.#loads((i, n, size) => {
      f.get(this.#ctx.captured[n.input]!);
      if (n.offset !== 0) f.i32(n.offset * size).op("i32.add");
      let inner = 1;
      for (let ax = batch.length - 1; ax >= 0; ax--) {
        const ext = batch[ax]!, s = n.strides[ax]!;
        if (s !== 0 && ext > 1) {
          f.get(b);
          if (inner > 1) f.i32(inner).op("i32.div_u");
          if (ax > 0) f.i32(ext).op("i32.rem_u");
          f.i32(s * size).op("i32.mul").op("i32.add");
        }
        inner *= ext;
      }
      f.set(this.#base.get(i)!);
    });
  }

  /** Points every load at row `i`, key `j0` (locals), and evaluates the row's invariants in `need`. */
  row(i: Local, j0: Local, need: readonly boolean[]): void {
    const f = this.#ctx.e.f, r = this.#rank;
    this.#loads((k, n, size) => {
      if (!need[k]) return;
      f.get(this.#base.get(k)!);
      const si = n.strides[r - 2]!, sj = n.strides[r - 1]!;
      if (si !== 0) f.get(i).i32(si * size).op("i32.mul").op("i32.add");
      if (sj !== 0) f.get(j0).i32(sj * size).op("i32.mul").op("i32.add");
      f.set(this.#cur.get(k)!);
    });
    this.nodes.forEach((n, k) => {
      if (need[k] && this.#invariant[k] && n.kind !== "literal") {
        this.#eval(k, 1);
      }
    });
  }

  /** Evaluates the nodes in `need` that move along j, for `lanes` keys at the cell. */
  group(lanes: Lanes, need: readonly boolean[]): void {
    this.nodes.forEach((_, k) => {
      if (need[k] && !this.#invariant[k]) this.#eval(k, lanes);
    });
  }

  /** Steps every load in `need` by `lanes` keys. */
  advance(lanes: Lanes, need: readonly boolean[]): void {
    const f = this.#ctx.e.f, r = this.#rank;
    this.#loads((k, n, size) => {
      const step = n.strides[r - 1]! * size * lanes;
      if (need[k] && step !== 0) f.inc(this.#cur.get(k)!, step);
    });
  }

  /** The current byte address of load node `k`. */
  pointer(k: number): Local {
    return this.#cur.get(k)!;
  }

  /**
   * Pushes `lanes` values read like load `k` but at `delta` (a local)
   * bytes from it: the same element of another buffer of c's shape.
   */
  loadAt(k: number, lanes: Lanes, delta: Local | null): void {
    const n = this.nodes[k] as FusedLoad;
    const f = this.#ctx.e.f;
    if (delta === null) return this.#load(this.#cur.get(k)!, n, lanes);
    const p = f.local("i32");
    f.get(this.#cur.get(k)!).get(delta).op("i32.add").set(p);
    this.#load(p, n, lanes);
  }

  #loads(fn: (k: number, n: FusedLoad, size: number) => void): void {
    this.nodes.forEach((n, k) => {
      if (n.kind === "load") fn(k, n, ELEM_BYTES[n.dtype]);
    });
  }

  #load(p: Local, n: FusedLoad, lanes: Lanes): void {
    const f = this.#ctx.e.f, b = ELEM_BYTES[n.dtype];
    const step = n.strides[this.#rank - 1]! * b;
    const one = (off: number) =>
      b === 4
        ? f.mem("v128.load32_splat", addr(f, p, off))
        : f.mem("i32.load8_u", addr(f, p, off)).simd("i32x4.splat");
    if (lanes === 1 || step === 0) return void one(0);
    if (step === b) {
      if (b === 4) return void f.get(p).mem("v128.load");
      f.get(p).mem("v128.load32_zero")
        .simd("i16x8.extend_low_i8x16_u").simd("i32x4.extend_low_i16x8_u");
      return;
    }
    const t = f.local("v128");
    one(0);
    f.set(t);
    for (let lane = 1; lane < 4; lane++) {
      const off = lane * step;
      if (b === 4) {
        const m = addr(f, p, off);
        f.get(t).loadLane(lane, m).set(t);
      } else {
        f.get(t);
        f.mem("i32.load8_u", addr(f, p, off)).simd("i32x4.replace_lane", lane)
          .set(t);
      }
    }
    f.get(t);
  }

  #eval(k: number, lanes: Lanes): void {
    const f = this.#ctx.e.f, n = this.nodes[k]!;
    if (n.kind === "literal") {
      const v = n.value;
      if (n.dtype === "float32") f.f32x4(v);
      else f.i32x4(n.dtype === "int32" ? v | 0 : v & 0xff);
    } else if (n.kind === "load") {
      this.#load(this.#cur.get(k)!, n, lanes);
    } else if (n.kind === "dot") {
      const off = this.#ctx.dotTile(n.index);
      f.get(this.#ctx.cell);
      f.mem(lanes === 4 ? "v128.load" : "v128.load32_splat", off);
    } else {
      const args = n.args.map((a) => ({
        local: this.val[a]!,
        dtype: this.nodes[a]!.dtype,
      }));
      emitOp(this.#ctx.e, n.prim, args, n.dtype, lanes);
    }
    f.set(this.val[k]!);
  }
}
