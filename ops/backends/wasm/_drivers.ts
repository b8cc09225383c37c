/**
 * The thread drivers of the wasm backend, in job-index order. Workers get
 * them as source text (`_threads.ts`), so each must be self-contained.
 *
 * @module
 */

import { gemmDriver, packBDriver } from "./_gemm.ts";
import { GRID_DRIVER, gridDriver } from "./_grid.ts";
import type { Driver } from "./_threads.ts";

/** Job index of the B packing driver. */
export const PACK_B = 0;
/** Job index of the matmul driver. */
export const GEMM = 1;

/** Every driver, indexed by job kind. */
export const DRIVERS: readonly Driver[] = [packBDriver, gemmDriver, gridDriver];

if (DRIVERS[GRID_DRIVER] !== gridDriver) {
  throw new Error("wasm: the grid driver's index is wrong");
}
