// Optimisers keep their step counter as an int32 tensor: schedules and
// bias corrections are computed on the device, so a whole update traces
// once under jit, and checkpoints whose step is a number still resume.

import { assert, assertEquals, assertThrows } from "@std/assert";
import * as h from "../../mod.ts";
import type { Tensor } from "../../mod.ts";
import {
  adam,
  type AdamState,
  adamw,
  sgd,
  stepAsTensor,
} from "../../models/train/optim.ts";
import {
  constant,
  inverseSqrt,
  linearSchedule,
  type Schedule,
  warmupCosine,
} from "../../models/train/schedules.ts";
import {
  fit,
  type FitOptions,
  loadFitCheckpoint,
} from "../../models/train/fit.ts";
import { saveCheckpoint } from "../../models/train/checkpoint.ts";
import { readAll } from "../_helpers.ts";

const schedules: [string, Schedule][] = [
  [
    "warmupCosine",
    warmupCosine({ peak: 2e-3, warmup: 10, total: 50, end: 1e-4 }),
  ],
  [
    "warmupCosine without warm-up",
    warmupCosine({ peak: 1, warmup: 0, total: 7 }),
  ],
  ["inverseSqrt", inverseSqrt({ peak: 0.5, warmup: 4 })],
  ["linearSchedule", linearSchedule({ from: 1, to: 0.25, steps: 9 })],
  ["constant", constant(0.3)],
];

for (const [name, lr] of schedules) {
  Deno.test(`${name} gives the same rate for a step tensor as for a number`, async () => {
    for (const step of [0, 1, 3, 4, 9, 10, 11, 30, 50, 80]) {
      const x = lr(h.tensor(step, { dtype: "int32" }));
      const got = (await x.item()) as number;
      const want = lr(step);
      assert(
        Math.abs(got - want) <= 1e-6 * Math.max(1, Math.abs(want)),
        `${name} at ${step}: ${got} vs ${want}`,
      );
      h.dispose(x);
    }
  });
}

Deno.test("an optimiser refuses a schedule that cannot take a step tensor", () => {
  const opt = sgd({
    lr: ((s: number) => 0.1 / (1 + s)) as unknown as Schedule,
  });
  const p = { w: h.tensor([1]) };
  assertThrows(
    () => opt.update(p, p, opt.init(p)),
    TypeError,
    "a schedule must map a step tensor",
  );
});

Deno.test("adamw's whole update traces once under jit and equals the eager update", async () => {
  const opt = adamw({ lr: warmupCosine({ peak: 0.1, warmup: 2, total: 6 }) });
  const p0 = { w: h.normal(h.key(1), [3, 2]), b: h.zeros([2]) };
  const g = { w: h.normal(h.key(2), [3, 2]), b: h.normal(h.key(3), [2]) };
  const step = h.jit((p: typeof p0, s: AdamState) => {
    const r = opt.update(p, g, s);
    return { p: r.params, s: r.state };
  });
  let eager = { p: p0, s: opt.init(p0) };
  let jitted = { p: p0, s: opt.init(p0) };
  for (let i = 0; i < 6; i++) {
    const e = opt.update(eager.p, g, eager.s);
    eager = { p: e.params, s: e.state };
    jitted = step(jitted.p, jitted.s);
  }
  assertEquals(step.cacheSize, 1);
  assertEquals(await jitted.s.step.item(), 6);
  assertEquals(jitted.s.step.dtype, "int32");
  const [a, b] = await Promise.all([
    readAll([eager.p.w, eager.p.b]),
    readAll([jitted.p.w, jitted.p.b]),
  ]);
  for (let i = 0; i < a.length; i++) {
    const [x, y] = [
      a[i] as number[][] | number[],
      b[i] as number[][] | number[],
    ];
    const fx = x.flat(), fy = y.flat();
    fx.forEach((v, j) =>
      assert(Math.abs(v - fy[j]!) < 1e-6, `${v} vs ${fy[j]}`)
    );
  }
  // the parameters moved (a test that can fail)
  assert(Math.abs((a[1] as number[])[0]!) > 1e-3);
});

Deno.test("stepAsTensor turns a saved number step into an int32 tensor", async () => {
  const s = stepAsTensor<{ step: unknown; m: null }>({ step: 7, m: null });
  assert(s.step instanceof h.Tensor);
  assertEquals([(s.step as Tensor).dtype, await (s.step as Tensor).item()], [
    "int32",
    7,
  ]);
  const same = { step: h.tensor(1, { dtype: "int32" }) };
  assertEquals(stepAsTensor(same), same);
  assertThrows(() => stepAsTensor({ step: -1 }), RangeError, "got -1");
});

type Mlp = { w: Tensor; b: Tensor };
type Batch = { x: Tensor; y: Tensor };

function options(
  extra: Partial<FitOptions<Mlp, Batch, { w: number }, AdamState, object>> = {},
): FitOptions<Mlp, Batch, { w: number }, AdamState, object> {
  return {
    init: () => ({ w: h.normal(h.key(1), [3, 2]), b: h.zeros([2]) }),
    loss: (p, { x, y }) =>
      h.mean(h.square(h.sub(h.add(h.matmul(x, p.w), p.b), y))),
    batches: (e) =>
      [0, 1].map((i) => {
        const x = h.uniform(h.key(10 * e + i), [4, 3]);
        return { x, y: h.matmul(x, h.tensor([[1, 0], [0, 2], [1, 1]])) };
      }),
    optimizer: adam({ lr: warmupCosine({ peak: 0.05, warmup: 2, total: 8 }) }),
    key: h.key(0),
    epochs: 4,
    evaluate: async (p) => ({ w: (await p.b.data())[0]! }),
    score: () => 0,
    ...extra,
  };
}

Deno.test("a checkpoint whose optimiser step is a number resumes like one whose step is a tensor", async () => {
  const dir = await Deno.makeTempDir({ prefix: "heed_optim_" });
  try {
    const whole = await fit(options());
    const path = `${dir}/c.safetensors`;
    await fit(options({ epochs: 2, checkpoint: { path, metadata: {} } }));
    const saved = await loadFitCheckpoint<
      Mlp,
      AdamState,
      object,
      { w: number }
    >(path);
    assertEquals(saved.opt.step.dtype, "int32");
    // the same checkpoint as an older heed wrote it: the step a JS number
    const old = `${dir}/old.safetensors`;
    await saveCheckpoint(old, {
      params: saved.params,
      optState: {
        opt: { ...saved.opt, step: (await saved.opt.step.item()) as number },
        best: saved.best,
      },
      metadata: saved.metadata,
    });
    const oldSaved = await loadFitCheckpoint<
      Mlp,
      AdamState,
      object,
      { w: number }
    >(old);
    assertEquals(
      typeof (oldSaved.opt as unknown as { step: unknown }).step,
      "number",
    );
    for (const resume of [saved, oldSaved]) {
      const r = await fit(options({ resume }));
      assertEquals(r.progress.step, 8);
      assertEquals(
        await readAll([r.params.w, r.params.b]),
        await readAll([whole.params.w, whole.params.b]),
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
