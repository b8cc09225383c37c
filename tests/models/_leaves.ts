// A checkpoint's parameters and optimiser state as host arrays, in tree
// order: what the resume tests compare bit for bit.

import { loadCheckpoint } from "../../models/train/checkpoint.ts";
import { type Tensor, treeFlatten } from "../../mod.ts";

/** Every tensor leaf of the checkpoint at `path` (params, then optimiser state), read back. */
export async function checkpointLeaves(path: string): Promise<Float32Array[]> {
  const ck = await loadCheckpoint(path);
  const ts = treeFlatten([ck.params, ck.optState])[0].filter((
    l,
  ): l is Tensor => typeof l === "object" && l !== null);
  return Promise.all(ts.map((t) => t.data() as Promise<Float32Array>));
}
