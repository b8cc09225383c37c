// fit's jitted step donates the state it replaces (parameters, optimiser
// state, loss sum, average): training reaches the parameters of the eager
// run, which donates nothing, and the best parameters, which are the live
// parameters (or average) right after a best epoch, survive the steps that
// donate those.

import { assert, assertEquals } from "@std/assert";
import * as h from "../../mod.ts";
import type { Tensor } from "../../mod.ts";
import { type Average, fit, type FitOptions } from "../../models/train/fit.ts";
import { sgd, type SgdState } from "../../models/train/optim.ts";
import { assertAllClose, readAll, testEachBackend } from "../_helpers.ts";

type P = { w: Tensor; b: Tensor };
type Batch = { x: Tensor; y: Tensor };
type M = { readonly w: number[]; readonly at: number };

/** Scores by epoch: the best is epoch 2 of 4. */
const SCORES = [1, 3, 2, 0];

function options(
  extra: Partial<FitOptions<P, Batch, M, SgdState, object>> = {},
): FitOptions<P, Batch, M, SgdState, object> {
  const batch = (seed: number): Batch => {
    const x = h.uniform(h.key(seed), [4, 3], { min: -1, max: 1 }); // [4, 3]
    return { x, y: h.sum(x, { axis: 1, keepdims: true }) }; // [4, 1]
  };
  return {
    init: () => ({ w: h.normal(h.key(1), [3, 1]), b: h.zeros([1]) }),
    loss: (p, b) =>
      h.mean(h.square(h.sub(h.add(h.matmul(b.x, p.w), p.b), b.y))),
    batches: (epoch) => [batch(epoch), batch(10 + epoch), batch(20 + epoch)],
    optimizer: sgd({ lr: 0.1, momentum: 0.9 }),
    clip: 1,
    key: h.key(3),
    epochs: 4,
    evaluate: async (p, epoch) => ({
      w: Array.from(await p.w.data()),
      at: epoch,
    }),
    score: (m) => SCORES[m.at - 1]!,
    ...extra,
  };
}

const averages: [string, { average?: Average }][] = [
  ["no average", {}],
  ["an EMA", { average: { kind: "ema", decay: 0.5 } }],
  ["SWA", { average: { kind: "swa", start: 2 } }],
];

for (const [name, average] of averages) {
  testEachBackend(
    `fit with donation keeps the best epoch's parameters and equals the eager run (${name})`,
    async () => {
      const eager = await fit(options({ jit: false, ...average }));
      const jitted = await fit(options(average));
      assertEquals(jitted.programs, 1);
      const best = jitted.progress.history[1]!;
      assertEquals(jitted.progress.bestEpoch, 2);
      // the returned parameters are the best epoch's, still readable
      assert(!jitted.params.w.released && !jitted.params.b.released);
      assertEquals(Array.from(await jitted.params.w.data()), best.w);
      if (h.defaultBackend() === "cpu") {
        const [a, b] = [eager, jitted].map((r) =>
          readAll([r.params.w, r.params.b])
        );
        assertEquals(await b, await a);
        assertEquals(
          jitted.progress.history.map((r) => [r.loss, r.w]),
          eager.progress.history.map((r) => [r.loss, r.w]),
        );
      } else {
        for (const k of ["w", "b"] as const) {
          await assertAllClose(jitted.params[k], eager.params[k], {
            rtol: 1e-5,
            atol: 1e-6,
          });
        }
      }
    },
  );
}

Deno.test("fit's step frees the state it replaces: the initial parameters are gone after the first step", async () => {
  let init: P | null = null;
  const seen: boolean[] = [];
  await fit(options({
    init: () => (init = { w: h.normal(h.key(1), [3, 1]), b: h.zeros([1]) }),
    epochs: 1,
    onStep: () => void seen.push(init!.w.released && init!.b.released),
  }));
  assertEquals(seen, [true, true, true]);
});
