// `--decay cosine`: the translator's learning rate falls along a cosine to 0
// at the end of --epochs instead of as the inverse square root of the step.
// The plan names it, the checkpoint keeps its length, --resume keeps both
// and refuses another decay or another length, and a resumed run reaches
// the parameters of an uninterrupted one.

import {
  assert,
  assertEquals,
  assertRejects,
  assertStringIncludes,
  assertThrows,
} from "@std/assert";
import { main as train } from "../../models/cli/train.ts";
import { parseTrainArgs } from "../../models/cli/args.ts";
import { loadCheckpoint } from "../../models/train/checkpoint.ts";
import { planned, quiet, tinyMulti30k } from "./_cli.ts";
import { loadDataset } from "../../data/mod.ts";
import {
  trainTranslator,
  type TranslatorTrainOptions,
} from "../../models/train/translate.ts";
import { checkpointLeaves } from "./_leaves.ts";
import * as aq from "arquero";

const CPU = ["--backend", "cpu"];
const SMALL = ["--d-model", "16", "--layers", "1", "--warmup", "1"];

Deno.test("train --decay: parsed for translate only, one of two names", () => {
  assertEquals(parseTrainArgs(["--task", "translate"]).decay, null);
  assertEquals(
    parseTrainArgs(["--task", "translate", "--decay", "cosine"]).decay,
    "cosine",
  );
  assertThrows(
    () => parseTrainArgs(["--task", "translate", "--decay", "linear"]),
    RangeError,
    "--decay: expected inverse-sqrt or cosine, got linear",
  );
  assertThrows(
    () => parseTrainArgs(["--decay", "cosine"]),
    RangeError,
    "--decay: only for --task translate",
  );
});

Deno.test("trainTranslator: an unknown decay is a RangeError naming the choices", async () => {
  const pairs = aq.table({ de: ["ein hund"], en: ["a dog"] });
  await assertRejects(
    () =>
      trainTranslator({
        data: { train: pairs, valid: pairs, test: pairs },
        decay: "linear" as "cosine",
      }),
    RangeError,
    'decay must be "inverse-sqrt" or "cosine", got "linear"',
  );
});

Deno.test("train --decay cosine: planned, kept by the checkpoint, and --resume keeps it and refuses another", async () => {
  const dir = await Deno.makeTempDir({ prefix: "heed_decay_" });
  try {
    const mt = await tinyMulti30k(await Deno.makeTempDir({ dir }));
    const base = ["--task", "translate", "--data", mt, ...CPU, ...SMALL];
    const run = (out: string, ...more: string[]) =>
      quiet(() => train([...base, "--out", `${dir}/${out}`, ...more]));

    const [dcode, dlog] = await run("a", "--epochs", "3", "--dry-run");
    assertEquals(dcode, 0, dlog);
    assertStringIncludes(
      planned(dlog, "schedule"),
      "then inverse square root decay",
    );
    const steps = Number(/(\d+) steps per epoch/.exec(dlog)![1]);
    const cosine = ["--decay", "cosine"];
    const [pcode, plog] = await run(
      "a",
      "--epochs",
      "3",
      ...cosine,
      "--dry-run",
    );
    assertEquals(pcode, 0, plog);
    assertStringIncludes(
      planned(plog, "schedule"),
      `warm-up 1 steps, then cosine decay to 0 at step ${3 * steps}`,
    );
    await assertRejects(
      () => run("a", "--epochs", "1", ...cosine, "--warmup", `${steps}`),
      RangeError,
      `a cosine decay needs more steps than the warm-up: the epochs give ${steps} steps, the warm-up is ${steps}`,
    );

    const [code, log] = await run("b", "--epochs", "2", ...cosine);
    assertEquals(code, 0, log);
    const ck = await loadCheckpoint<unknown, unknown, { cosineSteps: number }>(
      `${dir}/b/checkpoint.safetensors`,
    );
    assertEquals(ck.metadata.cosineSteps, 2 * steps);
    // the decay ended with the run's --epochs: more epochs are refused,
    // as is another decay; the run's own are kept
    await assertRejects(
      () => run("b", "--resume", "--epochs", "3", "--dry-run"),
      RangeError,
      `decays its learning rate to 0 over ${
        2 * steps
      } steps (--epochs 2), and --epochs 3 gives ${3 * steps}; give --epochs 2`,
    );
    await assertRejects(
      () => run("b", "--resume", "--decay", "inverse-sqrt", "--dry-run"),
      RangeError,
      "was trained with --decay cosine, not inverse-sqrt; drop --decay or give cosine",
    );
    const [rcode, rlog] = await run(
      "b",
      "--resume",
      "--epochs",
      "2",
      "--dry-run",
    );
    assertEquals(rcode, 0, rlog);
    assertStringIncludes(
      planned(rlog, "schedule"),
      `cosine decay to 0 at step ${2 * steps}`,
    );

    // a run without --decay refuses it on --resume
    const [ncode, nlog] = await run("c", "--epochs", "1");
    assertEquals(ncode, 0, nlog);
    await assertRejects(
      () => run("c", "--resume", "--epochs", "2", ...cosine, "--dry-run"),
      RangeError,
      "was trained with --decay inverse-sqrt, not cosine",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("trainTranslator with a cosine decay: a run killed after epoch 2 of 3 and resumed reaches the uninterrupted run's parameters", async () => {
  const dir = await Deno.makeTempDir({ prefix: "heed_decay_resume_" });
  try {
    const d = await loadDataset("tatoeba");
    const base: TranslatorTrainOptions = {
      data: {
        train: d.train.slice(0, 120),
        valid: d.valid.slice(0, 8),
        test: d.test.slice(0, 8),
      },
      vocabSize: 200,
      model: { dModel: 16, heads: 2, encLayers: 1, decLayers: 1, ffHidden: 32 },
      validSentences: 8,
      beam: 1,
      warmup: 2,
      maxTokens: 1024,
      epochs: 3,
      patience: 3,
      decay: "cosine",
    };
    await trainTranslator({
      ...base,
      checkpoint: { path: `${dir}/a.safetensors`, resume: false },
    });
    // fit saves the checkpoint after onEpoch: throwing there at epoch 3
    // leaves epoch 2's, as a kill during epoch 3 would
    await assertRejects(
      () =>
        trainTranslator({
          ...base,
          checkpoint: { path: `${dir}/b.safetensors`, resume: false },
          onEpoch: (m) => {
            if (m.epoch === 3) throw new Error("killed");
          },
        }),
      Error,
      "killed",
    );
    await trainTranslator({
      ...base,
      checkpoint: { path: `${dir}/b.safetensors`, resume: true },
    });
    const [la, lb] = await Promise.all([
      checkpointLeaves(`${dir}/a.safetensors`),
      checkpointLeaves(`${dir}/b.safetensors`),
    ]);
    assertEquals(la.length, lb.length);
    la.forEach((x, i) => assertEquals(lb[i], x, `leaf ${i} differs`));
    // and the cosine's end is not the inverse square root's
    await trainTranslator({
      ...base,
      decay: "inverse-sqrt",
      checkpoint: { path: `${dir}/c.safetensors`, resume: false },
    });
    const lc = await checkpointLeaves(`${dir}/c.safetensors`);
    assert(la.some((x, i) => x.some((v, j) => v !== lc[i]![j])));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
