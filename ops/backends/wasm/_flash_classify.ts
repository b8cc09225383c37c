/**
 * Block sparsity for flash kernels: before a masked kernel runs, each
 * (query tile, key tile) of each batch element the mask tells apart
 * (`maskAxes`) is classified by evaluating the mask over it; the kernel
 * then skips hidden tiles and runs whole ones without the mask's code
 * (`Gen.sparse`). A causal mask thus does about half the work.
 *
 * @module
 */

import type { FlashKernel, FlashMode } from "../flash.ts";
import { flashArity } from "../flash.ts";
import type { Fn } from "./_asm.ts";
import { sizeOf } from "../../dtype.ts";
import type { Arena } from "./_arena.ts";
import { BC, BR, Gen, maskAxes, scratchBytes } from "./_flash_gen.ts";
import type { Exports } from "./_threads.ts";
import type { ImportName } from "./_fused_ops.ts";

/**
 * The tile classifier of a masked kernel, with the frame's signature:
 * `(_, _, _, b, _, scratch, _, params, _, at, _)` writes one byte per
 * (query tile, key tile) of batch element b at `table + at`: 0 when the
 * mask hides the whole tile, 1 when it shows it whole, else 2.
 */
export function generateClassify(
  k: FlashKernel,
  mode: FlashMode,
  imports: ImportName[],
): Fn {
  const g = new Gen(k, flashArity(k, mode), imports);
  const f = g.f, mask = g.mask!;
  const needM = mask.need([k.mask!.value]);
  const at = f.local("i32"), n = f.local("v128"), one = f.local("i32");
  f.get(3).set(g.b);
  g.setBatch();
  f.get(g.op[g.op.length - 1]!).get(9).op("i32.add").set(at);
  g.loop(g.qt, { n: Math.ceil(k.tq / BR) }, () => {
    g.queryTile(g.qt);
    g.loop(g.kt, { n: Math.ceil(k.tk / BC) }, () => {
      g.keyTile(g.kt);
      f.f32x4(0).set(n);
      f.i32(0).set(one);
      g.loop(g.r, g.br, () =>
        g.cells(null, needM, (lanes) => {
          if (lanes === 4) {
            f.get(n);
            g.visible();
            f.simd("i32x4.sub").set(n);
          } else {
            f.get(one);
            g.visible();
            f.simd("i32x4.extract_lane", 0).op("i32.sub").set(one);
          }
        }));
      // visible cells: the lanes of n and `one`, each counting -(-1)
      f.get(at);
      for (let lane = 0; lane < 4; lane++) {
        f.get(n).simd("i32x4.extract_lane", lane);
      }
      f.op("i32.add").op("i32.add").op("i32.add").get(one).op("i32.add");
      f.set(one);
      f.i32(1).i32(2).get(one).get(g.br).get(g.bc).op("i32.mul").op("i32.eq");
      f.op("select").i32(0).get(one).op("select").mem("i32.store8");
      f.inc(at, 1);
    });
  });
  return f;
}

const TILE_STATS = { empty: 0, full: 0, partial: 0 };

/**
 * How many (query tile, key tile) pairs masked flash kernels found hidden
 * (skipped), shown whole (run without the mask's code) and partly shown,
 * in this process (once per batch element the mask tells apart).
 */
export function flashTileStats(): {
  empty: number;
  full: number;
  partial: number;
} {
  return { ...TILE_STATS };
}

/**
 * Fills the class table at `table` (one row per batch element the mask
 * tells apart, `maskAxes`) with the instance's `classify`.
 */
export function classifyTiles(
  ex: Exports,
  k: FlashKernel,
  a: Arena,
  block: number,
  table: number,
): void {
  const axes = maskAxes(k), nb = sizeOf(k.batch);
  const tiles = Math.ceil(k.tq / BR) * Math.ceil(k.tk / BC);
  const scratch = a.alloc(scratchBytes(k));
  for (let m = 0; m < axes.count; m++) {
    let b = 0, rest = m, below = nb;
    k.batch.forEach((ext, ax) => {
      below /= ext;
      if (!axes.axes.includes(ax)) return;
      const at = Math.floor(rest / axes.inner[ax]!);
      rest -= at * axes.inner[ax]!;
      b += at * below;
    });
    ex.classify!(1, 0, 0, b, 0, scratch.ptr, 0, block, 0, m * tiles, 0);
  }
  a.release(scratch);
  const classes = a.u8.subarray(table, table + axes.count * tiles);
  for (const c of classes) {
    TILE_STATS[(["empty", "full", "partial"] as const)[c]!]++;
  }
}
