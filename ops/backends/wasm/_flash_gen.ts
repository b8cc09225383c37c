/**
 * The frame every flash kernel function shares (`_flash_codegen.ts` fills
 * in the modes): its signature, the operand pointers it reads from a
 * parameter block, the scratch layout, the tile loops and the row passes
 * over a tile's cells with the score and mask expressions (`_flash_expr.ts`).
 *
 * The function has the grid kernels' signature (`_grid.ts`), so the grid
 * driver splits it over threads: `(count, _, _, item0, _, scratch, _,
 * params, _, _, _)` runs items `item0 .. item0 + count - 1` (an item is a
 * query tile, or a key tile for `grad_kv`, of one batch element; a whole
 * batch element for `grad_qkv`) with its
 * own `scratch`; `params` holds the operands' byte addresses (in the
 * mode's operand order, then the output, then the tile classes).
 *
 * Scratch (per thread unit): {@link TILE_COUNT} tiles of `BR × BC`
 * float32 (dot products, weights, products with partials) at fixed
 * offsets, then per-row float32 arrays, then two transposed key-side
 * tiles ({@link btAt}); `grad_captured` keeps its partial sums after
 * that. A cell `(r, c)` of every tile is at `cell + tile offset`, with
 * `cell = scratch + 4·(r·BC + c)`.
 *
 * @module
 */

import { sizeOf } from "../../dtype.ts";
import type { FlashKernel } from "../flash.ts";
import { Fn, type Local } from "./_asm.ts";
import { Expr } from "./_flash_expr.ts";
import type { Emit, ImportName, Lanes } from "./_fused_ops.ts";

/** Query rows per tile. */
export const BR = 64;
/** Keys per tile. */
export const BC = 64;
/** Bytes of one tile. */
export const TILE_BYTES: number = BR * BC * 4;

/** The tiles of the scratch, by name. */
export const TILES = {
  R0: 0, // q_0 · k
  R1: 1, // q_1 · k
  DP: 2, // gO · v
  TQ0: 3, // tq_k · k
  TQ1: 4,
  TK0: 5, // q_k · tk
  TK1: 6,
  P: 7, // weights (or masked scores)
  W: 8, // P·ts
  DR0: 9, // ds · ∂s/∂r_k
  DR1: 10,
} as const;
/** Tiles in the scratch. */
export const TILE_COUNT = 11;

/** Per-row arrays after the tiles. */
export const ROWS = { M: 0, L: 1, LSE: 2, DD: 3, TST: 4 } as const;
const ROW_ARRAYS = 5;

/** Byte offset of transposed key-side tile `slot` (0 or 1, `dotTile`'s `bt`). */
export function btAt(k: FlashKernel, slot: number): number {
  return TILE_COUNT * TILE_BYTES + ROW_ARRAYS * BR * 4 +
    slot * Math.max(k.d, k.dv, 1) * BC * 4;
}

/** Bytes of scratch one thread unit of kernel `k` needs. */
export function scratchBytes(k: FlashKernel): number {
  return btAt(k, 2);
}

/** Byte offset of tile `t` from a cell. */
export function tileAt(t: keyof typeof TILES): number {
  return TILES[t] * TILE_BYTES;
}

/** Byte offset of row array `a` from the scratch. */
export function rowsAt(a: keyof typeof ROWS): number {
  return TILE_COUNT * TILE_BYTES + ROWS[a] * BR * 4;
}

/**
 * The batch axes the mask varies along (a load has a non-zero stride) and,
 * per such axis, its stride in a table over those axes only: batch
 * elements that differ elsewhere share their tile classes.
 */
export function maskAxes(
  k: FlashKernel,
): { axes: number[]; inner: number[]; count: number } {
  const axes = k.batch.flatMap((ext, ax) =>
    ext > 1 && k.mask!.nodes.some((n) => n.kind === "load" && n.strides[ax])
      ? [ax]
      : []
  );
  const inner: number[] = [];
  let count = 1;
  for (let a = axes.length - 1; a >= 0; a--) {
    inner[axes[a]!] = count;
    count *= k.batch[axes[a]!]!;
  }
  return { axes, inner, count };
}

/** The generated function's frame: locals, operands, expressions. */
export class Gen {
  readonly f: Fn = new Fn(Array(11).fill("i32"), []);
  readonly imports: ImportName[];
  readonly e: Emit;
  readonly k: FlashKernel;
  /** Operand byte addresses (mode order), then the output, then the classes. */
  readonly op: Local[];
  readonly scratch: Local = 5;
  readonly cell: Local;
  readonly b: Local;
  readonly i0: Local;
  readonly br: Local;
  readonly j0: Local;
  readonly bc: Local;
  readonly r: Local;
  readonly i: Local;
  readonly score: Expr;
  readonly mask: Expr | null;
  /** The current query tile and key tile. */
  readonly qt: Local;
  readonly kt: Local;
  /** Byte offset of the current batch element's tile classes in the table. */
  readonly classes: Local;
  /** While emitting code for tiles the mask shows whole (no mask code). */
  noMask = false;

  /** Whether products use `f32x4.relaxed_madd`. */
  readonly fma: boolean;

  constructor(
    k: FlashKernel,
    operands: number,
    imports: ImportName[] = [],
    fma = false,
  ) {
    this.k = k;
    this.fma = fma;
    const f = this.f;
    this.imports = imports;
    this.e = {
      f,
      importIndex(name) {
        const i = imports.indexOf(name);
        return i >= 0 ? i : imports.push(name) - 1;
      },
    };
    const l = () => f.local("i32");
    this.op = Array.from({ length: operands + 2 }, l);
    this.op.forEach((p, n) => f.get(7).mem("i32.load", 4 * n).set(p));
    [this.cell, this.b, this.i0, this.br, this.j0, this.bc, this.r, this.i] = [
      l(),
      l(),
      l(),
      l(),
      l(),
      l(),
      l(),
      l(),
    ];
    [this.qt, this.kt, this.classes] = [l(), l(), l()];
    const nq = k.queries;
    const ctx = {
      e: this.e,
      kernel: k,
      captured: k.captured.map((_, c) => this.op[nq + 2 + c]!),
      cell: this.cell,
      dotTile: (n: number) => tileAt(n === 0 ? "R0" : "R1"),
    };
    this.score = new Expr(ctx, k.score.nodes);
    this.mask = k.mask ? new Expr(ctx, k.mask.nodes) : null;
    this.score.literals();
    this.mask?.literals();
  }

  /** `for (v = 0; v < to; v++) body()`, `to` a local or a constant. */
  loop(v: Local, to: Local | { n: number }, body: () => void): void {
    const f = this.f;
    f.for(
      v,
      () => f.i32(0),
      () => {
        if (typeof to === "number") f.get(to);
        else f.i32(to.n);
      },
      1,
      body,
    );
  }

  /** Runs the items of this call: `body` with `item` set. */
  items(item: Local, body: () => void): void {
    const f = this.f, n = f.local("i32");
    f.for(n, () => f.i32(0), () => f.get(0), 1, () => {
      f.get(3).get(n).op("i32.add").set(item);
      body();
    });
  }

  /** Sets `i0`, `br` for query tile `qt` (a local). */
  queryTile(qt: Local): void {
    const f = this.f;
    f.get(qt).i32(BR).op("i32.mul").set(this.i0);
    f.i32(this.k.tq).get(this.i0).op("i32.sub").set(this.br);
    f.get(this.br).i32(BR).op("i32.gt_s").if(() => f.i32(BR).set(this.br));
  }

  /** Sets `j0`, `bc` for key tile `kt` (a local). */
  keyTile(kt: Local): void {
    const f = this.f;
    f.get(kt).i32(BC).op("i32.mul").set(this.j0);
    f.i32(this.k.tk).get(this.j0).op("i32.sub").set(this.bc);
    f.get(this.bc).i32(BC).op("i32.gt_s").if(() => f.i32(BC).set(this.bc));
  }

  /** Pushes `op[n] + 4·((b·rowsPerBatch + row)·width)` (row a local or null for 0). */
  rowAddr(
    n: number,
    rowsPerBatch: number,
    row: Local | null,
    width: number,
  ): void {
    const f = this.f;
    f.get(this.op[n]!).get(this.b).i32(rowsPerBatch).op("i32.mul");
    if (row !== null) f.get(row).op("i32.add");
    f.i32(4 * width).op("i32.mul").op("i32.add");
  }

  /** Points the expressions at batch element `b` and finds its tile classes. */
  setBatch(): void {
    this.score.batch(this.b);
    if (!this.mask) return;
    this.mask.batch(this.b);
    const f = this.f, { axes, inner } = maskAxes(this.k);
    const tiles = Math.ceil(this.k.tq / BR) * Math.ceil(this.k.tk / BC);
    f.i32(0);
    let below = 1;
    this.k.batch.forEach((ext, ax) => {
      below *= ext;
      if (!axes.includes(ax)) return;
      const after = sizeOf(this.k.batch) / below;
      f.get(this.b);
      if (after > 1) f.i32(after).op("i32.div_u");
      f.i32(ext).op("i32.rem_u").i32(inner[ax]! * tiles).op("i32.mul");
      f.op("i32.add");
    });
    f.set(this.classes);
  }

  /**
   * Emits `body` for the current query and key tiles by their class:
   * skipped when the mask hides the whole tile, without the mask's code
   * when it shows the whole tile.
   */
  sparse(body: () => void): void {
    const f = this.f;
    if (!this.mask) return body();
    const cls = f.local("i32");
    f.get(this.op[this.op.length - 1]!).get(this.classes).op("i32.add");
    f.get(this.qt).i32(Math.ceil(this.k.tk / BC)).op("i32.mul");
    f.get(this.kt).op("i32.add").op("i32.add").mem("i32.load8_u").tee(cls);
    f.if(() => {
      f.get(cls).i32(1).op("i32.eq").if(() => {
        this.noMask = true;
        body();
        this.noMask = false;
      }, body);
    });
  }

  /** Pushes a lane mask (-1 visible, 0 hidden) for the current keys. */
  visible(): void {
    const f = this.f;
    if (!this.mask || this.noMask) return void f.i32x4(-1);
    f.get(this.mask.val[this.k.mask!.value]!).i32x4(0).simd("i32x4.ne");
  }

  /**
   * One pass over row `r`'s `bc` cells: four keys a step, then single
   * keys; with `needS`/`needM` (null: no expression) the score and mask
   * nodes needed are evaluated at each step before `body`.
   */
  cells(
    needS: readonly boolean[] | null,
    needM: readonly boolean[] | null,
    body: (lanes: Lanes) => void,
  ): void {
    const f = this.f, c = f.local("i32");
    f.get(this.i0).get(this.r).op("i32.add").set(this.i);
    f.get(this.scratch).get(this.r).i32(4 * BC).op("i32.mul").op("i32.add")
      .set(this.cell);
    const mask = this.noMask ? null : this.mask;
    if (needS) this.score.row(this.i, this.j0, needS);
    if (needM && mask) mask.row(this.i, this.j0, needM);
    const step = (lanes: Lanes) => {
      if (needS) this.score.group(lanes, needS);
      if (needM && mask) mask.group(lanes, needM);
      body(lanes);
      if (needS) this.score.advance(lanes, needS);
      if (needM && mask) mask.advance(lanes, needM);
      f.inc(this.cell, 4 * lanes).inc(c, lanes);
    };
    f.i32(0).set(c);
    f.block(() =>
      f.loop(() => {
        f.get(c).i32(4).op("i32.add").get(this.bc).op("i32.gt_s").brIf(1);
        step(4);
        f.br(0);
      })
    );
    f.block(() =>
      f.loop(() => {
        f.get(c).get(this.bc).op("i32.ge_s").brIf(1);
        step(1);
        f.br(0);
      })
    );
  }

  /** Stores `lanes` floats of v128 local `v` at the cell plus `off`. */
  storeCell(v: Local, lanes: Lanes, off: number): void {
    const f = this.f;
    f.get(this.cell).get(v);
    if (lanes === 4) f.mem("v128.store", off);
    else f.simd("f32x4.extract_lane", 0).mem("f32.store", off);
  }

  /** Pushes the f32 at row array `a`, row `r`. */
  rowGet(a: keyof typeof ROWS): void {
    const f = this.f;
    f.get(this.scratch).get(this.r).i32(4).op("i32.mul").op("i32.add")
      .mem("f32.load", rowsAt(a));
  }

  /** Stores the f32 that `push` pushes at row array `a`, row `r`. */
  rowSet(a: keyof typeof ROWS, push: () => void): void {
    const f = this.f;
    f.get(this.scratch).get(this.r).i32(4).op("i32.mul").op("i32.add");
    push();
    f.mem("f32.store", rowsAt(a));
  }
}
