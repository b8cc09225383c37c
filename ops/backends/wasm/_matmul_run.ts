/**
 * Runs a float32 `dot_general` on the wasm backend: plan the strides, pack
 * B once (in parallel), then multiply row blocks of A on every thread.
 * Operands whose axis groups do not merge into single strides are first
 * transposed into `[batch, rows, cols]` order.
 *
 * @module
 */

import type { Operand } from "../contract.ts";
import { type Aval, sizeOf } from "../../dtype.ts";
import type { Params, Primitive } from "../../primitives.ts";
import type { Arena, Block } from "./_arena.ts";
import type { Ref } from "./_dispatch.ts";
import { GEMM, PACK_B } from "./_drivers.ts";
import { gemmPlan } from "./_gemm.ts";
import type { GemmShape } from "./_gemm_kernels.ts";
import type { ThreadPool } from "./_threads.ts";

/** Rows of A per block (a multiple of MR is used) and the panel depth. */
const MC = 64, KC = 256;
/** Below this many flops a matmul stays on the calling thread. */
export const THREAD_MIN_FLOPS = 1 << 21;

/** What the matmul needs from the backend. */
export interface MatmulContext {
  /** The allocator. */
  readonly arena: Arena;
  /** The threads. */
  readonly pool: ThreadPool;
  /** The micro-tile. */
  readonly gemm: GemmShape;
  /** Runs another primitive (for transposes). */
  run<P extends Primitive>(
    prim: P,
    inputs: readonly Operand[],
    params: Params<P>,
    out: Aval,
  ): Block;
  /** Releases one reference. */
  free(b: Block): void;
}

function canonical(
  ctx: MatmulContext,
  x: Ref,
  block: Block,
  order: readonly number[],
): [Ref, Block] {
  const shape = order.map((a) => x.aval.shape[a]!);
  const aval = { shape, dtype: x.aval.dtype };
  const b = ctx.run("transpose", [{ handle: block, aval: x.aval }], {
    perm: order,
  }, aval);
  return [{ ptr: b.ptr, aval }, b];
}

/** `dot_general` of two float32 operands into a new block. */
export function matmul(
  ctx: MatmulContext,
  ins: readonly Ref[],
  blocks: readonly Block[],
  p: Params<"dot_general">,
  out: Aval,
): Block {
  let [x, y] = ins as [Ref, Ref];
  let plan = gemmPlan(x.aval.shape, y.aval.shape, p);
  const temps: Block[] = [];
  if (!plan) {
    const free = (
      s: readonly number[],
      batch: readonly number[],
      con: readonly number[],
    ) => [...s.keys()].filter((a) => !batch.includes(a) && !con.includes(a));
    const xo = [
      ...p.lhsBatch,
      ...free(x.aval.shape, p.lhsBatch, p.lhsContract),
      ...p.lhsContract,
    ];
    const yo = [
      ...p.rhsBatch,
      ...p.rhsContract,
      ...free(y.aval.shape, p.rhsBatch, p.rhsContract),
    ];
    let bx: Block, by: Block;
    [x, bx] = canonical(ctx, x, blocks[0]!, xo);
    [y, by] = canonical(ctx, y, blocks[1]!, yo);
    temps.push(bx, by);
    const nb = p.lhsBatch.length, nc = p.lhsContract.length;
    const xf = xo.length - nb - nc;
    plan = gemmPlan(x.aval.shape, y.aval.shape, {
      lhsBatch: [...Array(nb).keys()],
      rhsBatch: [...Array(nb).keys()],
      lhsContract: [...Array(nc).keys()].map((i) => nb + xf + i),
      rhsContract: [...Array(nc).keys()].map((i) => nb + i),
    });
    if (!plan) throw new Error("wasm: dot_general: packing failed");
  }
  const { arena, pool, gemm } = ctx;
  const { batch, m, n, k } = plan;
  const o = arena.alloc(sizeOf(out.shape) * 4);
  if (m * n * batch > 0 && k === 0) {
    arena.f32.fill(0, o.ptr / 4, o.ptr / 4 + batch * m * n);
  }
  if (m * n * k * batch > 0) {
    const NR = gemm.nr;
    const nt = 2 * batch * m * n * k >= THREAD_MIN_FLOPS ? pool.threads : 1;
    const panels = Math.ceil(n / NR);
    const bp = arena.alloc(batch * panels * k * NR * 4);
    const [sBb, sBk, sBj] = plan.sb;
    // Pack B in units of about 64K floats, at least 4 per thread.
    const group = Math.max(
      1,
      Math.min(
        Math.ceil(65536 / (k * NR)),
        Math.ceil((batch * panels) / (4 * nt)),
      ),
    );
    pool.run(
      PACK_B,
      [bp.ptr, y.ptr, batch, k, n, sBb, sBk, sBj, panels, NR, group],
      batch * Math.ceil(panels / group),
      nt,
    );
    const mc = Math.ceil(MC / gemm.mr) * gemm.mr;
    const apStride = Math.ceil((mc * KC * 4) / 64) * 64;
    const ap = arena.alloc(nt * apStride);
    const scratch = arena.alloc(nt * 1024);
    const units = batch * Math.ceil(m / mc);
    // Enough units (about 4 per thread) that a slow thread takes fewer.
    const chunks = units >= 4 * nt
      ? 1
      : Math.min(panels, Math.ceil((4 * nt) / units));
    const [sAb, sAi, sAk] = plan.sa;
    pool.run(
      GEMM,
      [
        x.ptr,
        bp.ptr,
        o.ptr,
        batch,
        m,
        n,
        k,
        sAb,
        sAi,
        sAk,
        panels,
        mc,
        KC,
        ap.ptr,
        apStride,
        scratch.ptr,
        chunks,
        NR,
      ],
      units * chunks,
      nt,
    );
    for (const t of [bp, ap, scratch]) arena.release(t);
  }
  for (const t of temps) ctx.free(t);
  return o;
}
