/**
 * The wasm backend's `random_uniform` entry: reads the key operand from the
 * wasm memory, folds its path in on the host, and runs the grid kernel of
 * `_random_kernel.ts`.
 *
 * @module
 */

import { contiguous } from "../_cpu_common.ts";
import { sizeOf } from "../../dtype.ts";
import type { Params } from "../../primitives.ts";
import { threefry2x32 } from "../../threefry.ts";
import type { Arena } from "./_arena.ts";
import { type GridContext, planGrid, runGrid } from "./_grid.ts";

/** What the kernel needs from the backend: the grid and the memory. */
export interface RandomContext extends GridContext {
  /** The allocator, whose memory holds the key operand. */
  readonly arena: Arena;
}

/**
 * `random_uniform` into the float32 block at `o`: the key words read from
 * the operand at `keyPtr`, the path folded in on the host, then the grid
 * kernel `random_uniform` fills the block.
 */
export function randomUniformInto(
  ctx: RandomContext,
  keyPtr: number,
  params: Params<"random_uniform">,
  o: number,
): boolean {
  if (!ctx.kernels.has("random_uniform")) return false;
  const words = new Int32Array(ctx.arena.memory.buffer, keyPtr, 2);
  let k0 = words[0]! >>> 0, k1 = words[1]! >>> 0;
  for (const [c0, c1] of params.path) [k0, k1] = threefry2x32(k0, k1, c0, c1);
  const n = sizeOf(params.shape);
  const g = planGrid([n], [{
    ptr: o,
    bytes: 4,
    strides: contiguous([n]).strides,
  }]);
  if (!g) return false;
  runGrid(ctx, "random_uniform", g, {
    mode: o >>> 2,
    extras: [k0 | 0, k1 | 0],
  });
  return true;
}
