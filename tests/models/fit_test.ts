// fit, the one training loop: early stopping, the time budget, exact
// resume from its checkpoints (typed metadata), and a non-finite loss
// refused before anything is saved.

import { assert, assertEquals, assertRejects } from "@std/assert";
import {
  add,
  key,
  mean,
  mul,
  square,
  sub,
  type Tensor,
  tensor,
} from "../../mod.ts";
import {
  type EpochRecord,
  fit,
  type FitOptions,
  loadFitCheckpoint,
} from "../../models/train/fit.ts";
import { sgd, type SgdState } from "../../models/train/optim.ts";
import { saveCheckpoint } from "../../models/train/checkpoint.ts";

type Line = { w: Tensor; b: Tensor };
type Batch = { x: Tensor; y: Tensor };
type Meta = { readonly name: string };
type M = { readonly w: number };

/** y = 2x + 1 in two batches per epoch; dropout keys are ignored. */
function options(
  extra: Partial<FitOptions<Line, Batch, M, SgdState, Meta>> = {},
): FitOptions<Line, Batch, M, SgdState, Meta> {
  return {
    init: () => ({ w: tensor(0), b: tensor(0) }),
    loss: (p, batch) => mean(square(sub(add(mul(batch.x, p.w), p.b), batch.y))),
    batches: () => [
      { x: tensor([0, 1]), y: tensor([1, 3]) },
      { x: tensor([2, 3]), y: tensor([5, 7]) },
    ],
    optimizer: sgd({ lr: 0.02, momentum: 0.5 }),
    key: key(0),
    epochs: 6,
    evaluate: async (p) => ({ w: (await p.w.item()) as number }),
    score: (m) => -Math.abs(m.w - 2),
    ...extra,
  };
}

Deno.test("fit stops after patience epochs without a better score", async () => {
  const { progress } = await fit(options({ score: () => 1, patience: 2 }));
  assertEquals(progress.history.map((r) => r.epoch), [1, 2, 3]);
  assertEquals([progress.bestEpoch, progress.bestScore], [1, 1]);
});

Deno.test("fit starts no epoch that its time budget says would end past it", async () => {
  const { progress } = await fit(options({ maxSeconds: 1e-9 }));
  assertEquals(progress.history.length, 1);
});

Deno.test("fit resumed from its checkpoint reaches the parameters of an uninterrupted run", async () => {
  const dir = await Deno.makeTempDir({ prefix: "heed_fit_" });
  try {
    const a = await fit(options());
    const path = `${dir}/c.safetensors`;
    const checkpoint = { path, metadata: { name: "line" } };
    await fit(options({ epochs: 3, checkpoint }));
    const saved = await loadFitCheckpoint<Line, SgdState, Meta, M>(path);
    // typed metadata: the caller's and fit's own
    assertEquals([saved.metadata.name, saved.metadata.fit.epoch], ["line", 3]);
    const b = await fit(options({ checkpoint, resume: saved }));
    const strip = (h: readonly EpochRecord<M>[]) =>
      h.map(({ epoch, loss, w }) => [epoch, loss, w]);
    assertEquals(strip(b.progress.history), strip(a.progress.history));
    assertEquals(await b.params.w.item(), await a.params.w.item());
    assertEquals(await b.params.b.item(), await a.params.b.item());
    assertEquals(b.progress.step, 12);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("fit refuses a non-finite loss before saving the epoch", async () => {
  const dir = await Deno.makeTempDir({ prefix: "heed_fit_" });
  try {
    const path = `${dir}/c.safetensors`;
    await assertRejects(
      () =>
        fit(options({
          loss: (p, batch) => mean(mul(add(mul(batch.x, p.w), p.b), NaN)),
          checkpoint: { path, metadata: { name: "nan" } },
        })),
      RangeError,
      "fit: training diverged in epoch 1 (loss is not finite)",
    );
    await assertRejects(() => Deno.stat(path), Deno.errors.NotFound);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("fit refuses to continue once a parameter is not finite", async () => {
  await assertRejects(
    () =>
      fit(options({
        // one step: its loss is finite, the step it takes is not
        batches: () => [{ x: tensor([1e20]), y: tensor([1]) }],
        optimizer: sgd({ lr: 1e30 }),
      })),
    RangeError,
    "fit: training diverged in epoch 1 (params.",
  );
});

Deno.test("loadFitCheckpoint refuses a checkpoint that fit did not write", async () => {
  const dir = await Deno.makeTempDir({ prefix: "heed_fit_" });
  try {
    const path = `${dir}/c.safetensors`;
    await saveCheckpoint(path, { params: { w: tensor([1]) }, metadata: {} });
    await assertRejects(
      () => loadFitCheckpoint(path),
      RangeError,
      "not a training checkpoint",
    );
    let seen: unknown = null;
    await assertRejects(
      () =>
        loadFitCheckpoint<Line, SgdState, Meta, M>(path, (m) => {
          seen = m;
          throw new RangeError("not mine");
        }),
      RangeError,
      "not mine",
    );
    assert(seen !== null, "check saw the metadata first");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
