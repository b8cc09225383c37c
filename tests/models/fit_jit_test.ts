// fit runs its step under jit: the same parameters as the eager step (bit-
// equal on the CPU), one program per batch shape however many steps and
// keys, and `jit: false` to run eagerly.

import { assertEquals, assertRejects } from "@std/assert";
import * as h from "../../mod.ts";
import type { Key, Tensor } from "../../mod.ts";
import { fit, type FitOptions } from "../../models/train/fit.ts";
import {
  type AdamState,
  adamw,
  type Optimizer,
} from "../../models/train/optim.ts";
import { warmupCosine } from "../../models/train/schedules.ts";
import { assertAllClose, readAll, testEachBackend } from "../_helpers.ts";

type Mlp = { w1: Tensor; b1: Tensor; w2: Tensor };
type Batch = { x: Tensor; y: Tensor; rows: Int32Array; name: string };
type M = { readonly loss: number };

/** A batch of `n` rows: y = sum of x, plus a typed array as `data` gives. */
function batch(n: number, seed: number): Batch {
  const x = h.uniform(h.key(seed), [n, 3], { min: -1, max: 1 }); // [n, 3]
  return {
    x,
    y: h.sum(x, { axis: 1, keepdims: true }), // [n, 1]
    rows: Int32Array.from({ length: n }, (_, i) => i + seed),
    name: "bucket",
  };
}

/** An MLP with dropout, AdamW on a warm-up + cosine schedule, clipping, two batch shapes. */
function options(
  extra: Partial<FitOptions<Mlp, Batch, M, AdamState, object>> = {},
): FitOptions<Mlp, Batch, M, AdamState, object> {
  const loss = (p: Mlp, b: Batch, k: Key) => {
    const hidden = h.dropout(h.relu(h.add(h.matmul(b.x, p.w1), p.b1)), {
      rate: 0.25,
      key: k,
    }); // [n, 8]
    return h.mean(h.square(h.sub(h.matmul(hidden, p.w2), b.y)));
  };
  return {
    init: () => ({
      w1: h.normal(h.key(1), [3, 8]),
      b1: h.zeros([8]),
      w2: h.mul(h.normal(h.key(2), [8, 1]), 0.3),
    }),
    loss,
    batches: (epoch) => [batch(4, epoch), batch(2, 10 + epoch), batch(4, 20)],
    optimizer: adamw({
      lr: warmupCosine({ peak: 0.05, warmup: 2, total: 9 }),
      weightDecay: 0.01,
    }),
    clip: 1,
    key: h.key(3),
    epochs: 3,
    evaluate: (p) => ({ loss: 0 * p.b1.size }),
    score: () => 0,
    ...extra,
  };
}

testEachBackend(
  "fit under jit reaches the eager run's parameters",
  async () => {
    const eager = await fit(options({ jit: false }));
    const jitted = await fit(options());
    const [a, b] = [eager.params, jitted.params].map((p) =>
      readAll([p.w1, p.b1, p.w2])
    );
    if (h.defaultBackend() === "cpu") {
      assertEquals(await b, await a);
      assertEquals(
        jitted.progress.history.map((r) => r.loss),
        eager.progress.history.map((r) => r.loss),
      );
    } else {
      for (const k of ["w1", "b1", "w2"] as const) {
        await assertAllClose(jitted.params[k], eager.params[k], {
          rtol: 1e-5,
          atol: 1e-6,
        });
      }
    }
    assertEquals([eager.programs, jitted.programs], [0, 2]);
  },
);

Deno.test("fit compiles one program per batch shape, not one per step", async () => {
  const seen: number[] = [];
  const { programs, progress } = await fit(options({
    epochs: 4,
    onStep: (p) => void seen.push(p.programs),
  }));
  assertEquals(progress.step, 12);
  assertEquals(programs, 2);
  assertEquals(seen.slice(0, 3), [1, 2, 2]);
  assertEquals(Math.max(...seen), 2);
});

Deno.test("fit's jit option must be a boolean", async () => {
  await assertRejects(
    () => fit(options({ jit: "yes" as unknown as boolean })),
    TypeError,
    "jit must be a boolean",
  );
});

Deno.test("under jit the loss sees the batch's tensors, numbers and strings, not its typed arrays", async () => {
  const seen: unknown[] = [];
  const base = options();
  await fit({
    ...base,
    epochs: 1,
    loss: (p, b, k) => {
      seen.push([typeof b.rows, b.name]);
      return base.loss(p, b, k);
    },
  });
  assertEquals(seen, [["undefined", "bucket"], ["undefined", "bucket"]]);
});

Deno.test("a loss that jit cannot trace is a TypeError that points to jit: false", async () => {
  const base = options();
  const hostKey = {
    ...base,
    epochs: 1,
    loss: (p: Mlp, b: Batch, k: Key) => {
      h.permutationIndices(k, 3); // host words of a traced key
      return base.loss(p, b, k);
    },
  };
  await assertRejects(() => fit(hostKey), TypeError, "pass jit: false");
  const eager = await fit({ ...hostKey, jit: false });
  assertEquals(eager.progress.step, 3);
});

Deno.test("an optimiser that counts steps in a JS number still compiles one program per batch shape", async () => {
  // a user's own SGD with a host step counter and a host schedule
  type HostState = { readonly step: number };
  const hostSgd: Optimizer<HostState> = {
    init: () => ({ step: 0 }),
    update<P>(params: P, grads: P, state: HostState) {
      const lr = 0.05 / (1 + state.step);
      return {
        params: h.treeMap<P>(
          (p, g) => h.sub(p as Tensor, h.mul(g as Tensor, lr)),
          params,
          grads,
        ),
        state: { step: state.step + 1 },
      };
    },
  };
  const base = options() as unknown as FitOptions<
    Mlp,
    Batch,
    M,
    HostState,
    object
  >;
  const run = (jit: boolean) =>
    fit({ ...base, optimizer: hostSgd, epochs: 3, jit });
  const [eager, jitted] = [await run(false), await run(true)];
  assertEquals(jitted.programs, 2);
  assertEquals(jitted.progress.step, 9);
  for (const k of ["w1", "b1", "w2"] as const) {
    await assertAllClose(jitted.params[k], eager.params[k], {
      rtol: 1e-5,
      atol: 1e-6,
    });
  }
});
