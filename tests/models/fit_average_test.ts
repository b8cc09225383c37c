// fit's weight averaging: the EMA and SWA of a known parameter sequence
// are exact, the average is what evaluate sees and fit returns, a resumed
// run keeps its average (bit for bit), and the options and flags are
// checked.

import { assertEquals, assertRejects, assertThrows } from "@std/assert";
import { key, mul, sum, type Tensor, tensor } from "../../mod.ts";
import {
  type Average,
  fit,
  type FitOptions,
  loadFitCheckpoint,
} from "../../models/train/fit.ts";
import { sgd, type SgdState } from "../../models/train/optim.ts";
import { parseTrainArgs } from "../../models/cli/args.ts";
import { assertAllClose } from "../../testing/mod.ts";

type W = { w: Tensor };
type Batch = { c: Tensor };
type Meta = { readonly name: string };
type M = { readonly w: number[]; readonly at: number };

const W0 = [1, -2, 0.5];
const C = [1, 2, -1];
const LR = 0.1;
const STEPS_PER_EPOCH = 3;

/**
 * loss = Σ w·c, so plain SGD moves w by −lr·c every step: after s steps
 * w = w0 − s·lr·c, a sequence known exactly.
 */
function options(
  extra: Partial<FitOptions<W, Batch, M, SgdState, Meta>> = {},
): FitOptions<W, Batch, M, SgdState, Meta> {
  return {
    init: () => ({ w: tensor(W0) }),
    loss: (p, b) => sum(mul(p.w, b.c)),
    batches: () =>
      Array.from({ length: STEPS_PER_EPOCH }, () => ({ c: tensor(C) })),
    optimizer: sgd({ lr: LR }),
    key: key(0),
    epochs: 3,
    evaluate: async (p, epoch) => ({
      w: Array.from(await p.w.data()),
      at: epoch,
    }),
    // every epoch is better than the last: best is the last epoch's
    score: (m) => m.at,
    ...extra,
  };
}

/** The parameters after `s` steps. */
const wAt = (s: number) => W0.map((w0, i) => w0 - s * LR * C[i]!);

/** The EMA after each of `steps` steps, in float64, by its definition. */
function emaByHand(decay: number, steps: number): number[][] {
  // mₜ = d·mₜ₋₁ + (1 − d)·wₜ from m₀ = 0, divided by 1 − dᵗ
  let m = W0.map(() => 0);
  const out: number[][] = [];
  for (let t = 1; t <= steps; t++) {
    m = m.map((a, i) => decay * a + (1 - decay) * wAt(t)[i]!);
    out.push(m.map((a) => a / (1 - decay ** t)));
  }
  return out;
}

for (const jit of [true, false]) {
  Deno.test(`fit with an EMA evaluates and returns the exact EMA of the parameters (jit ${jit})`, async () => {
    const { params, progress } = await fit(
      options({ average: { kind: "ema", decay: 0.8 }, jit }),
    );
    const byHand = emaByHand(0.8, 3 * STEPS_PER_EPOCH);
    // evaluate saw the average at every epoch's end
    for (const r of progress.history) {
      await assertAllClose(
        tensor(r.w),
        tensor(byHand[r.epoch * STEPS_PER_EPOCH - 1]!),
        { rtol: 1e-6, atol: 1e-6 },
      );
    }
    await assertAllClose(params.w, tensor(byHand.at(-1)!), {
      rtol: 1e-6,
      atol: 1e-6,
    });
    assertEquals(progress.average, { kind: "ema", decay: 0.8 });
  });
}

Deno.test("fit with SWA evaluates the raw parameters before its start and their epoch mean from it on", async () => {
  const { params, progress } = await fit(
    options({ average: { kind: "swa", start: 2 }, epochs: 4 }),
  );
  const end = (e: number) => wAt(e * STEPS_PER_EPOCH);
  const mean = (es: number[]) =>
    W0.map((_, i) => es.reduce((a, e) => a + end(e)[i]!, 0) / es.length);
  const expected = [end(1), mean([2]), mean([2, 3]), mean([2, 3, 4])];
  for (const [i, r] of progress.history.entries()) {
    await assertAllClose(tensor(r.w), tensor(expected[i]!), {
      rtol: 1e-6,
      atol: 1e-6,
    });
  }
  await assertAllClose(params.w, tensor(expected[3]!), {
    rtol: 1e-6,
    atol: 1e-6,
  });
});

Deno.test("fit resumed keeps the run's average and reaches the uninterrupted run's bit for bit", async () => {
  const dir = await Deno.makeTempDir({ prefix: "heed_fit_average_" });
  try {
    for (
      const average of [
        { kind: "ema", decay: 0.9 },
        { kind: "swa", start: 1 },
      ] as const
    ) {
      const whole = await fit(options({ average, epochs: 4 }));
      const path = `${dir}/${average.kind}.safetensors`;
      const checkpoint = { path, metadata: { name: "w" } };
      await fit(options({ average, epochs: 2, checkpoint }));
      const saved = await loadFitCheckpoint<W, SgdState, Meta, M>(path);
      assertEquals(saved.metadata.fit.average, average);
      // no average given: the run's is kept
      const resumed = await fit(
        options({ epochs: 4, checkpoint, resume: saved }),
      );
      assertEquals(resumed.progress.average, average);
      assertEquals(
        Array.from(await resumed.params.w.data()),
        Array.from(await whole.params.w.data()),
      );
      assertEquals(
        resumed.progress.history.map((r) => r.w),
        whole.progress.history.map((r) => r.w),
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("fit refuses to resume a run with another average, or with one when the run had none", async () => {
  const dir = await Deno.makeTempDir({ prefix: "heed_fit_average_" });
  try {
    const path = `${dir}/c.safetensors`;
    const checkpoint = { path, metadata: { name: "w" } };
    await fit(
      options({ average: { kind: "ema", decay: 0.9 }, epochs: 1, checkpoint }),
    );
    const saved = await loadFitCheckpoint<W, SgdState, Meta, M>(path);
    await assertRejects(
      () =>
        fit(options({
          average: { kind: "ema", decay: 0.99 },
          checkpoint,
          resume: saved,
        })),
      RangeError,
      "averages its weights by ema:0.9, not ema:0.99",
    );
    await fit(options({ epochs: 1, checkpoint }));
    const plain = await loadFitCheckpoint<W, SgdState, Meta, M>(path);
    await assertRejects(
      () =>
        fit(options({
          average: { kind: "swa", start: 1 },
          checkpoint,
          resume: plain,
        })),
      RangeError,
      "averages no weights, not swa:1",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("fit checks its average option", async () => {
  const bad: [unknown, ErrorConstructor, string][] = [
    [{ kind: "ema", decay: 1 }, RangeError, "average.decay must be in (0, 1)"],
    [{ kind: "ema", decay: 0 }, RangeError, "average.decay must be in (0, 1)"],
    [{ kind: "swa", start: 0 }, RangeError, "average.start must be an epoch"],
    [{ kind: "mean" }, TypeError, 'average.kind must be "ema" or "swa"'],
  ];
  for (const [average, E, msg] of bad) {
    await assertRejects(
      () => fit(options({ average: average as Average })),
      E,
      msg,
    );
  }
});

Deno.test("train --average reads ema:DECAY and swa:EPOCH and refuses anything else", () => {
  assertEquals(parseTrainArgs(["--average", "ema:0.999"]).average, {
    kind: "ema",
    decay: 0.999,
  });
  assertEquals(parseTrainArgs(["--average=swa:8"]).average, {
    kind: "swa",
    start: 8,
  });
  assertEquals(parseTrainArgs([]).average, null);
  for (const v of ["ema:1", "ema:", "ema", "swa:0", "swa:1.5", "sma:3"]) {
    assertThrows(
      () => parseTrainArgs(["--average", v]),
      RangeError,
      `--average: expected ema:DECAY with DECAY in (0, 1) or swa:EPOCH with EPOCH at least 1, got ${v}`,
    );
  }
  // the translator averages too
  assertEquals(
    parseTrainArgs(["--task", "translate", "--average", "ema:0.9"]).average,
    { kind: "ema", decay: 0.9 },
  );
});

const CLI = new URL("../../models/cli/train.ts", import.meta.url).pathname;
const BANKING =
  new URL("../../data/datasets/banking77/train.csv", import.meta.url).pathname;

/** `train` on the first 120 banking77 rows, on the CPU backend. */
async function trainCli(
  dir: string,
  extra: string[],
): Promise<{ code: number; text: string }> {
  const csv = `${dir}/small.csv`;
  const lines = (await Deno.readTextFile(BANKING)).split(/\r?\n/);
  await Deno.writeTextFile(csv, lines.slice(0, 121).join("\n") + "\n");
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-read",
      `--allow-write=${dir}`,
      "--allow-env",
      CLI,
      ...["--data", csv, "--batch-size", "32", "--out", `${dir}/run`],
      ...["--d-model", "16", "--layers", "1"],
      ...extra,
    ],
    env: { HEED_BACKEND: "cpu", NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const d = new TextDecoder();
  return { code, text: d.decode(stdout) + d.decode(stderr) };
}

Deno.test("train --resume keeps the run's --average and refuses another", async () => {
  const dir = await Deno.makeTempDir({ prefix: "heed_train_average_" });
  try {
    const path = `${dir}/run/checkpoint.safetensors`;
    const first = await trainCli(dir, [
      "--epochs",
      "1",
      "--average",
      "ema:0.9",
    ]);
    assertEquals(first.code, 0, first.text);
    const other = await trainCli(dir, [
      ...["--epochs", "2", "--resume", "--average", "swa:1"],
    ]);
    assertEquals(other.code === 0, false, other.text);
    assertEquals(
      other.text.includes("averages its weights by ema:0.9, not swa:1"),
      true,
      other.text,
    );
    const kept = await trainCli(dir, ["--epochs", "2", "--resume"]);
    assertEquals(kept.code, 0, kept.text);
    const saved = await loadFitCheckpoint<W, SgdState, Meta, M>(path);
    assertEquals(saved.metadata.fit.epoch, 2);
    assertEquals(saved.metadata.fit.average, { kind: "ema", decay: 0.9 });
    // the EMA has seen every step of both epochs
    assertEquals(
      await saved.average?.count.item(),
      saved.metadata.fit.step,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("train --patience reads an integer of at least 1 (default: the task's)", () => {
  assertEquals(parseTrainArgs([]).patience, null);
  assertEquals(parseTrainArgs(["--patience", "20"]).patience, 20);
  assertThrows(
    () => parseTrainArgs(["--patience", "0"]),
    RangeError,
    "--patience: expected an integer of at least 1, got 0",
  );
  assertEquals(
    parseTrainArgs(["--task", "translate", "--patience", "6"]).patience,
    6,
  );
});
