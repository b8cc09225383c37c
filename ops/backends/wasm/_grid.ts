/**
 * How the wasm backend runs every elementwise, copy and reduction kernel:
 * as a grid. The iteration shape is simplified (axes of extent 1 dropped,
 * neighbouring axes merged where every operand steps through them as one),
 * the last two axes become the rows and columns of one kernel call, and
 * the axes before them (at most three) are looped over. Large grids are cut
 * into units of rows and columns that the threads claim (`_threads.ts`);
 * below {@link THREAD_MIN_ELEMS} elements a grid stays on the caller.
 *
 * Grid kernels have the signature `(rows, n, mode, p0, r0, p1, r1, ...,
 * e0, e1)`: a pointer and a row stride (bytes) per operand, output first,
 * and up to two extra integers. They are exported as `g<id>`.
 *
 * @module
 */

import { Fn, type ModuleBuilder } from "./_asm.ts";
import {
  BINARY,
  binary,
  COMPARE,
  compare,
  CONVERT_4,
  fromBool,
  logic,
  map4,
  select4,
  toBool,
  UNARY_F32,
} from "./_kernels.ts";
import {
  copyRun,
  gather4,
  reduceCols,
  reduceRows,
  transpose4,
} from "./_layout_kernels.ts";
import { uniformRun } from "./_random_kernel.ts";
import type { Exports, ThreadPool } from "./_threads.ts";

/** Below this many elements a grid runs on the calling thread. */
export const THREAD_MIN_ELEMS = 1 << 16;
/** About how many elements one unit of a threaded grid holds. */
const UNIT_ELEMS = 1 << 15;

/**
 * `(rows, n, mode, p0, r0, ..., e...)` around a run kernel
 * `(n, mode, p0, p1, ..., e...)`: one call per row, pointers advanced by
 * their row strides.
 */
function rowLoop(inner: number, ops: number, extras: number): Fn {
  const f = new Fn(Array(3 + 2 * ops + extras).fill("i32"), []);
  const r = f.local("i32");
  f.for(r, () => f.i32(0), () => f.get(0), 1, () => {
    f.get(1).get(2);
    for (let k = 0; k < ops; k++) f.get(3 + 2 * k);
    for (let e = 0; e < extras; e++) f.get(3 + 2 * ops + e);
    f.call(inner);
    for (let k = 0; k < ops; k++) f.inc(3 + 2 * k, 4 + 2 * k, true);
  });
  return f;
}

/** Adds every grid kernel (and `gather4`) to `m`; returns their ids by name. */
export function addGridKernels(m: ModuleBuilder): Map<string, number> {
  const ids = new Map<string, number>();
  const grid = (name: string, fn: Fn) => {
    ids.set(name, ids.size);
    m.add(`g${ids.size - 1}`, fn);
  };
  const run = (name: string, fn: Fn, ops: number, extras = 0) =>
    grid(name, rowLoop(m.add(null, fn), ops, extras));
  for (const [op, body] of Object.entries(UNARY_F32)) {
    run(`un_${op}`, map4(body), 2);
  }
  for (const [op, body] of Object.entries(CONVERT_4)) run(op, map4(body), 2);
  for (const [op, [simd, scalar, isInt]] of Object.entries(BINARY)) {
    run(`bin_${op}`, binary(simd, scalar, isInt), 3);
  }
  for (const [op, forms] of Object.entries(COMPARE)) {
    forms.forEach(([simd, scalar], i) => {
      run(`cmp_${op}_${i ? "i32" : "f32"}`, compare(simd, scalar, i > 0), 3);
    });
  }
  run("and", logic("and"), 3);
  run("or", logic("or"), 3);
  run("not", logic("not"), 2);
  run("select4", select4(), 4);
  run("bool_f32", fromBool(true), 2);
  run("bool_i32", fromBool(false), 2);
  run("f32_bool", toBool(false), 2);
  run("i32_bool", toBool(true), 2);
  run("copy4", copyRun(4), 2, 2);
  run("copy1", copyRun(1), 2, 2);
  run("random_uniform", uniformRun(), 1, 2);
  grid("transpose4", transpose4());
  for (const kind of ["sum", "max", "min"] as const) {
    grid(`rows_${kind}`, reduceRows(kind));
    grid(`cols_${kind}`, reduceCols(kind));
  }
  m.add("gather4", gather4());
  return ids;
}

/** An operand of a grid: address, element size and strides (in elements). */
export interface GridOp {
  /** Byte address of the element at the origin. */
  readonly ptr: number;
  /** Bytes per element. */
  readonly bytes: number;
  /** Element step per iteration axis (0 repeats). */
  readonly strides: readonly number[];
}

/** A simplified iteration: merged extents and each operand's strides. */
export interface Grid {
  /** Extents, at least two (rows, columns), at most five. */
  readonly dims: number[];
  /** Per operand, one stride (in elements) per extent. */
  readonly strides: number[][];
  /** The operands. */
  readonly ops: readonly GridOp[];
}

/** Drops unit axes and merges axes that every operand steps through as one. */
export function planGrid(
  shape: readonly number[],
  ops: readonly GridOp[],
): Grid | null {
  const dims: number[] = [];
  const st: number[][] = ops.map(() => []);
  for (let ax = 0; ax < shape.length; ax++) {
    const d = shape[ax]!;
    if (d === 1) continue;
    const last = dims.length - 1;
    if (
      last >= 0 &&
      ops.every((op, k) => st[k]![last] === op.strides[ax]! * d)
    ) {
      dims[last]! *= d;
      ops.forEach((op, k) => (st[k]![last] = op.strides[ax]!));
    } else {
      dims.push(d);
      ops.forEach((op, k) => st[k]!.push(op.strides[ax]!));
    }
  }
  while (dims.length < 2) {
    dims.unshift(1);
    st.forEach((s) => s.unshift(0));
  }
  if (dims.length > 5) return null;
  return { dims, strides: st, ops };
}

/** Moves axis `a` of a grid to the rows position (second to last). */
export function toRows(g: Grid, a: number): void {
  const r = g.dims.length - 2;
  const move = <T>(xs: T[]) => xs.splice(r, 0, xs.splice(a, 1)[0]!);
  move(g.dims);
  g.strides.forEach(move);
}

/** Which of a grid's axes a threaded run may cut. */
export type Split = "rows" | "cols" | "any";

/** What running a grid needs from the backend. */
export interface GridContext {
  /** The main thread's exports. */
  readonly ex: Exports;
  /** The threads. */
  readonly pool: ThreadPool;
  /** Grid kernel ids by name. */
  readonly kernels: ReadonlyMap<string, number>;
}

/** Index of the grid driver in the driver table (see `_drivers.ts`). */
export const GRID_DRIVER = 2;

/**
 * Runs kernel `name` over grid `g`. `mode` bit k is set by default when
 * input k (operand k + 1) repeats along the columns.
 */
export function runGrid(
  ctx: GridContext,
  name: string,
  g: Grid,
  opts: { split?: Split; mode?: number; extras?: readonly number[] } = {},
): void {
  const id = ctx.kernels.get(name);
  if (id === undefined) throw new Error(`wasm: no grid kernel "${name}"`);
  const r = g.dims.length - 2;
  const rows = g.dims[r]!, cols = g.dims[r + 1]!;
  const outer = [1, 1, 1, ...g.dims.slice(0, r)].slice(-3);
  const outerCount = outer[0]! * outer[1]! * outer[2]!;
  const total = outerCount * rows * cols;
  if (total === 0) return;
  const mode = opts.mode ??
    g.strides.slice(1).reduce(
      (m, s, k) => s[r + 1] === 0 ? m | (1 << k) : m,
      0,
    );
  const split = opts.split ?? "any";
  const nt = total >= THREAD_MIN_ELEMS ? ctx.pool.threads : 1;
  let rowChunk = rows, colChunk = cols;
  if (nt > 1) {
    const want = Math.min(Math.ceil(total / UNIT_ELEMS), 16 * nt);
    const perOuter = Math.ceil(want / outerCount);
    if (perOuter > 1 && split !== "cols") {
      rowChunk = Math.ceil(rows / Math.min(rows, perOuter));
      if (rowChunk >= 4) rowChunk = Math.ceil(rowChunk / 4) * 4;
    }
    const rowChunks = Math.ceil(rows / rowChunk);
    if (perOuter > rowChunks && split !== "rows") {
      const colChunks = Math.min(
        Math.ceil(cols / 16),
        Math.ceil(perOuter / rowChunks),
      );
      colChunk = Math.ceil(Math.ceil(cols / colChunks) / 16) * 16;
    }
  }
  const rowChunks = Math.ceil(rows / rowChunk);
  const colChunks = Math.ceil(cols / colChunk);
  const args = [
    id,
    g.ops.length,
    rows,
    cols,
    mode,
    rowChunk,
    colChunk,
    rowChunks,
    colChunks,
    outer[0]!,
    outer[1]!,
    outer[2]!,
    opts.extras?.[0] ?? 0,
    opts.extras?.[1] ?? 0,
  ];
  g.ops.forEach((op, k) => {
    const s = g.strides[k]!.map((x) => x * op.bytes);
    const os = [0, 0, 0, ...s.slice(0, r)].slice(-3);
    args.push(op.ptr, s[r]!, s[r + 1]!, ...os);
  });
  ctx.pool.run(
    GRID_DRIVER,
    args,
    outerCount * rowChunks * colChunks,
    nt,
  );
}

/**
 * The grid driver: unit u is one (outer index, row chunk, column chunk).
 * Args: kernel, operands, rows, cols, mode, rowChunk, colChunk, rowChunks,
 * colChunks, outer extents (3), extras (2), then per operand: pointer, row
 * stride, column stride, outer strides (3), all in bytes.
 */
export function gridDriver(
  ex: Exports,
  ctl: Int32Array,
  u: number,
  _tid: number,
): void {
  const fn = ex["g" + ctl[8]]!, nOps = ctl[9]!, rows = ctl[10]!;
  const cols = ctl[11]!, rowChunk = ctl[13]!, colChunk = ctl[14]!;
  const rowChunks = ctl[15]!, colChunks = ctl[16]!;
  const d1 = ctl[18]!, d2 = ctl[19]!;
  const cc = u % colChunks;
  let q = (u - cc) / colChunks;
  const rc = q % rowChunks;
  q = (q - rc) / rowChunks;
  const i2 = q % d2;
  q = (q - i2) / d2;
  const i1 = q % d1, i0 = (q - i1) / d1;
  const r0 = rc * rowChunk, c0 = cc * colChunk;
  const p: number[] = [];
  for (let k = 0; k < nOps; k++) {
    const b = 22 + 6 * k;
    p.push(
      ctl[b]! + i0 * ctl[b + 3]! + i1 * ctl[b + 4]! + i2 * ctl[b + 5]! +
        r0 * ctl[b + 1]! + c0 * ctl[b + 2]!,
      ctl[b + 1]!,
    );
  }
  fn(
    Math.min(rowChunk, rows - r0),
    Math.min(colChunk, cols - c0),
    ctl[12]!,
    ...p,
    ctl[20]!,
    ctl[21]!,
  );
}
