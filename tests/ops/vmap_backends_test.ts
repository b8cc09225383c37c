// vmap on tensors that live on a backend other than the default: the
// constants ops make beside a batched value (`add(x, 1)`, grad's seed,
// zero cotangents) must live on its backend, as they do outside vmap.
//
// Needs `Tracer.storageBackend` (ops/tensor.ts), read by `backendOf`
// (ops/_convert.ts) and given by `BatchTracer` (ops/batching.ts).

import * as h from "../../mod.ts";
import type { Tensor } from "../../mod.ts";
import { vmap } from "../../ops/transforms/vmap.ts";
import { assertAllClose, testBackends } from "../_helpers.ts";

for (const other of testBackends().filter((b) => b !== "cpu")) {
  Deno.test(`vmap() keeps constants on the operands' backend [${other}]`, async () => {
    const prev = h.defaultBackend();
    await h.setBackend("cpu");
    try {
      const xs = await h.toBackend(h.tensor([[1, 2], [3, 4]]), other);
      const y = vmap((x: Tensor) => h.add(h.mul(x, 2), 1))(xs);
      await assertAllClose(y, [[3, 5], [7, 9]]);
      // The seed, the zero cotangent of the unused y, relu's zero branch.
      const loss = (x: Tensor, _y: Tensor) => h.sum(h.mul(h.relu(x), x));
      const [gx, gy] = vmap(h.grad(loss, { argnums: [0, 1] }))(xs, xs);
      await assertAllClose(gx, [[2, 4], [6, 8]]);
      await assertAllClose(gy, [[0, 0], [0, 0]]);
    } finally {
      await h.setBackend(prev);
    }
  });
}
