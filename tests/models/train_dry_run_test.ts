// `deno task train --dry-run` plans exactly what train then trains (the
// same parameter count and split) and writes nothing; it refuses what
// train refuses. `--warmup` is recorded in run.json and the checkpoint,
// kept on --resume, and another value on --resume is refused.

import {
  assert,
  assertEquals,
  assertRejects,
  assertStringIncludes,
} from "@std/assert";
import { main as train } from "../../models/cli/train.ts";
import { loadCheckpoint } from "../../models/train/checkpoint.ts";
import { loadClassifier } from "../../models/inference.ts";
import { countParameters } from "../../models/train/plan.ts";
import { parseTrainArgs } from "../../models/cli/args.ts";
import { translateOptions } from "../../models/cli/_plan.ts";
import { planned, quiet, tinyMulti30k } from "./_cli.ts";

const exists = (p: string) => Deno.lstat(p).then(() => true, () => false);

async function tinyCsv(dir: string): Promise<string> {
  const greet = ["hello there", "hi friend", "good morning", "hey you"];
  const leave = ["bye now", "see you later", "good night", "farewell friend"];
  const rows = Array.from(
    { length: 20 },
    (_, i) =>
      `${(i % 2 ? leave : greet)[(i >> 1) % 4]} w${i % 3},${
        i % 2 ? "leave" : "greet"
      }`,
  );
  const path = `${dir}/tiny.csv`;
  await Deno.writeTextFile(path, ["text,category", ...rows].join("\n") + "\n");
  return path;
}

const CPU = ["--backend", "cpu"];

Deno.test("train --dry-run plans the classifier train then trains (parameters, split) and writes nothing", async () => {
  const dir = await Deno.makeTempDir({ prefix: "heed_dry_" });
  try {
    const csv = await tinyCsv(dir);
    const args = ["--data", csv, "--epochs", "1", "--batch-size", "4", ...CPU];
    const out = `${dir}/run`;
    const [code, log] = await quiet(() =>
      train([...args, "--out", out, "--dry-run"])
    );
    assertEquals(code, 0, log);
    assert(!(await exists(out)), "the dry run wrote its --out");
    assertStringIncludes(log, "nothing was trained or written");
    assertEquals(planned(log, "task"), "classify");
    // a new run's defaults: three Transformers and a bag-of-n-grams member
    assertEquals(
      planned(log, "model"),
      "classifier, attention scaled-dot, ensemble of 3, bag-of-n-grams member (20000 buckets)",
    );
    const split = /(\d+) train, (\d+) validation, (\d+) test rows/.exec(
      planned(log, "split"),
    )!;
    assertEquals(Number(split[1]) + Number(split[2]) + Number(split[3]), 20);
    // 4 rows a batch over the training rows
    assertStringIncludes(
      planned(log, "batches"),
      `${Math.ceil(Number(split[1]) / 4)} steps per epoch`,
    );
    const [trained, tlog] = await quiet(() => train([...args, "--out", out]));
    assertEquals(trained, 0, tlog);
    assertStringIncludes(tlog, `(${split[3]} test rows`);
    const ck = await loadCheckpoint(`${out}/checkpoint.safetensors`);
    assertEquals(
      planned(log, "parameters"),
      countParameters(ck.params).toLocaleString("en-US"),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("train --dry-run refuses what train refuses, before writing anything", async () => {
  const dir = await Deno.makeTempDir({ prefix: "heed_dry_" });
  try {
    const out = `${dir}/run`;
    await assertRejects(() =>
      quiet(() =>
        train(["--data", `${dir}/missing.csv`, "--out", out, "--dry-run"])
      )
    );
    const [code, log] = await quiet(() =>
      train(["--attention", "softmax:nope", "--out", out, "--dry-run"])
    );
    assertEquals(code, 2, log);
    const [wcode, wlog] = await quiet(() =>
      train(["--warmup", "0", "--task", "translate", "--dry-run"])
    );
    assertEquals(wcode, 2);
    assertStringIncludes(
      wlog,
      "--warmup: expected an integer of at least 1, got 0",
    );
    assert(!(await exists(out)));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("translate: --patience reaches the plan and the trainer (default 3)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "heed_patience_" });
  try {
    const mt = await tinyMulti30k(await Deno.makeTempDir({ dir }));
    const args = ["--task", "translate", "--data", mt, ...CPU, "--dry-run"];
    let [code, log] = await quiet(() => train(args));
    assertEquals(code, 0, log);
    assertStringIncludes(
      planned(log, "budget"),
      "early stop after 3 epochs without a better validation BLEU",
    );
    [code, log] = await quiet(() => train([...args, "--patience", "7"]));
    assertEquals(code, 0, log);
    assertStringIncludes(planned(log, "budget"), "after 7 epochs without");
    const parsed = parseTrainArgs(["--task", "translate", "--patience", "7"]);
    const none = {} as never;
    assertEquals(translateOptions(parsed, none, none, none).patience, 7);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("--warmup is recorded in run.json and the checkpoint, kept on --resume, and another value on --resume is refused", async () => {
  const dir = await Deno.makeTempDir({ prefix: "heed_warmup_" });
  try {
    const mt = await tinyMulti30k(await Deno.makeTempDir({ dir }));
    const out = `${dir}/run`;
    const args = ["--task", "translate", "--data", mt, ...CPU, "--out", out];
    const [code, log] = await quiet(() =>
      train([...args, "--epochs", "1", "--warmup", "3"])
    );
    assertEquals(code, 0, log);
    const runJson = () =>
      Deno.readTextFile(`${out}/run.json`).then((t) => JSON.parse(t));
    assertEquals((await runJson()).warmup, 3);
    const ck = await loadCheckpoint<unknown, unknown, { warmup: number }>(
      `${out}/checkpoint.safetensors`,
    );
    assertEquals(ck.metadata.warmup, 3);
    // a dry run of the resume: the run's warm-up, its epoch, nothing written
    const before = await Deno.readTextFile(`${out}/metrics.jsonl`);
    const resume = [...args, "--resume", "--epochs", "2"];
    const [dcode, dlog] = await quiet(() => train([...resume, "--dry-run"]));
    assertEquals(dcode, 0, dlog);
    assertStringIncludes(planned(dlog, "schedule"), "warm-up 3 steps");
    assertEquals(planned(dlog, "run"), `resume ${out} after epoch 1`);
    await assertRejects(
      () => quiet(() => train([...resume, "--warmup", "5", "--dry-run"])),
      RangeError,
      "was trained with --warmup 3, not 5",
    );
    await assertRejects(
      () => quiet(() => train([...resume, "--warmup", "5"])),
      RangeError,
      "was trained with --warmup 3, not 5",
    );
    assertEquals(await Deno.readTextFile(`${out}/metrics.jsonl`), before);
    const [rcode, rlog] = await quiet(() => train(resume));
    assertEquals(rcode, 0, rlog);
    assertStringIncludes(rlog, "epoch 2:");
    assertEquals((await runJson()).warmup, 3);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("train --dry-run shows --patience, --pretrain and --average; train prints pretraining epochs, and a resumed run does not pretrain again", async () => {
  const dir = await Deno.makeTempDir({ prefix: "heed_dry_" });
  try {
    const csv = await tinyCsv(dir);
    const out = `${dir}/run`;
    const args = ["--data", csv, "--batch-size", "4", "--out", out, ...CPU];
    const plan = async (more: string[]) => {
      const [code, log] = await quiet(() => train([...args, ...more]));
      assertEquals(code, 0, log);
      return log;
    };
    let log = await plan(["--dry-run"]);
    assertStringIncludes(planned(log, "budget"), "after 4 epochs without");
    assertEquals(planned(log, "pretrain"), "none");
    assertEquals(planned(log, "weights"), "the last weights (no averaging)");
    log = await plan([
      "--dry-run",
      "--patience",
      "2",
      "--pretrain",
      "3",
      "--average",
      "swa:2",
    ]);
    assertStringIncludes(planned(log, "budget"), "after 2 epochs without");
    assertStringIncludes(planned(log, "pretrain"), "3 epochs of masked-token");
    assertStringIncludes(planned(log, "weights"), "from epoch 2");
    log = await plan([
      "--epochs",
      "1",
      "--pretrain",
      "1",
      "--average",
      "ema:0.9",
    ]);
    assertStringIncludes(log, "pretrain epoch 1/1: masked-token loss");
    log = await plan([
      "--dry-run",
      "--resume",
      "--epochs",
      "2",
      "--pretrain",
      "1",
    ]);
    assertStringIncludes(planned(log, "pretrain"), "does not pretrain again");
    assertStringIncludes(planned(log, "weights"), "the run's choice");
    log = await plan([
      "--dry-run",
      "--resume",
      "--epochs",
      "2",
      "--average",
      "ema:0.9",
    ]);
    assertStringIncludes(planned(log, "weights"), "decay 0.9");
    log = await plan(["--resume", "--epochs", "2", "--pretrain", "1"]);
    assert(!log.includes("pretrain epoch"), log);
    assertStringIncludes(log, "epoch 2:");
    // translation plans no pretraining; its early stop is by BLEU
    const m30k = await tinyMulti30k(`${dir}`);
    const [tcode, tlog] = await quiet(() =>
      train([
        "--task",
        "translate",
        "--data",
        m30k,
        "--out",
        `${dir}/t`,
        "--dry-run",
        ...CPU,
      ])
    );
    assertEquals(tcode, 0, tlog);
    assertStringIncludes(planned(tlog, "budget"), "validation BLEU");
    assert(!/^\s+pretrain\s/m.test(tlog), tlog);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a new run defaults to three Transformers and a bag member; --resume keeps a run's own model", async () => {
  const dir = await Deno.makeTempDir({ prefix: "heed_dry_" });
  try {
    const csv = await tinyCsv(dir);
    const out = `${dir}/run`;
    const args = ["--data", csv, "--batch-size", "4", "--out", out, ...CPU];
    const [code, log] = await quiet(() =>
      train([...args, "--epochs", "1", "--ensemble", "1", "--bag", "0"])
    );
    assertEquals(code, 0, log);
    const [dcode, dlog] = await quiet(() =>
      train([...args, "--resume", "--epochs", "2", "--dry-run"])
    );
    assertEquals(dcode, 0, dlog);
    assertEquals(planned(dlog, "model"), "classifier, attention scaled-dot");
    const { config: cfg } = await loadClassifier(
      `${out}/checkpoint.safetensors`,
    );
    assertEquals([cfg.members, cfg.bag], [1, 0]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("translate: --d-model, --layers and --dropout size the Transformer, are kept by --resume, and another value on --resume is refused", async () => {
  const dir = await Deno.makeTempDir({ prefix: "heed_tsizes_" });
  try {
    const mt = await tinyMulti30k(await Deno.makeTempDir({ dir }));
    const out = `${dir}/run`;
    const args = ["--task", "translate", "--data", mt, ...CPU, "--out", out];
    const sizes = ["--d-model", "16", "--layers", "1", "--dropout", "0"];
    const [pcode, plog] = await quiet(() =>
      train([...args, ...sizes, "--dry-run"])
    );
    assertEquals(pcode, 0, plog);
    assertStringIncludes(
      planned(plog, "model"),
      "width 16, 1 + 1 blocks, dropout 0",
    );
    const [code, log] = await quiet(() =>
      train([...args, ...sizes, "--epochs", "1"])
    );
    assertEquals(code, 0, log);
    const ck = await loadCheckpoint<
      unknown,
      unknown,
      { config: Record<string, unknown> }
    >(`${out}/checkpoint.safetensors`);
    const c = ck.metadata.config;
    assertEquals(
      [c.dModel, c.encLayers, c.decLayers, c.dropout, c.ffHidden],
      [16, 1, 1, 0, 64],
    );
    // --resume without the flags keeps the run's sizes
    const resume = [...args, "--resume", "--epochs", "2"];
    const [dcode, dlog] = await quiet(() => train([...resume, "--dry-run"]));
    assertEquals(dcode, 0, dlog);
    assertStringIncludes(
      planned(dlog, "model"),
      "width 16, 1 + 1 blocks, dropout 0",
    );
    await assertRejects(
      () => quiet(() => train([...resume, "--d-model", "32", "--dry-run"])),
      RangeError,
      "was trained with another configuration",
    );
    const [rcode, rlog] = await quiet(() => train(resume));
    assertEquals(rcode, 0, rlog);
    assertStringIncludes(rlog, "epoch 2:");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
