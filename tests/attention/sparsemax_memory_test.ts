// Sparsemax's all-pairs support is computed in blocks of query rows; each
// block's [..., rows, Tk, Tk] comparisons must be freed as soon as the block
// is done, also while grad runs (training), or a batch of long rows runs
// wasm out of its 4 GiB (banking77 with --attention sparsemax did).

import { assert, assertEquals } from "@std/assert";
import { type Context, sparsemaxNormaliser } from "../../attention/mod.ts";
import {
  defaultBackend,
  grad,
  key,
  memory,
  mul,
  normal,
  scope,
  sum,
  type Tensor,
} from "../../ops/mod.ts";

const live = () => memory()[defaultBackend()]?.liveBytes ?? 0;

Deno.test("sparsemax's blocked support frees each block under grad", () => {
  // [128, 64, 64]: 128·64·64 pairs per row of queries, so the 16M-element
  // block bound splits it into blocks of 32 rows (two blocks of 64 MiB).
  const s = normal(key(0), [128, 64, 64]);
  const c = normal(key(1), [128, 64, 64]);
  const norm = sparsemaxNormaliser();
  let grown = -1;
  const loss = (x: Tensor) => {
    const before = live();
    const w = norm(x, null, undefined as unknown as Context); // unused
    grown = live() - before;
    return sum(mul(w, c));
  };
  const g = scope(() => grad(loss)(s));
  assertEquals(g.shape, [128, 64, 64]);
  // What stays is O(rows·Tk) per tensor (2 MiB each); one block's pairs
  // alone would be 64 MiB.
  assert(grown >= 0);
  assert(grown < 32 * 2 ** 20, `sparsemax kept ${grown} bytes under grad`);
});
