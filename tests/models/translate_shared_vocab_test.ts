// One vocabulary for both languages: `--shared-vocab N` learns one BPE from
// the source and target training texts and ties the source embeddings, the
// target embeddings and the output layer into one table. The translator's
// config checks the vocabularies agree; the checkpoint keeps the choice,
// --resume keeps it and refuses another, and eval and predict load it.

import {
  assert,
  assertAlmostEquals,
  assertEquals,
  assertRejects,
  assertStringIncludes,
  assertThrows,
} from "@std/assert";
import { main as train } from "../../models/cli/train.ts";
import { main as evaluate } from "../../models/cli/eval.ts";
import { main as predict } from "../../models/cli/predict.ts";
import { loadCheckpoint } from "../../models/train/checkpoint.ts";
import { parseTrainArgs } from "../../models/cli/args.ts";
import {
  initTranslator,
  translatorConfig,
  translatorLoss,
} from "../../models/arch/translator.ts";
import { grad, key, tensor } from "../../ops/mod.ts";
import { planned, quiet, tinyMulti30k } from "./_cli.ts";

const CPU = ["--backend", "cpu"];
const SMALL = ["--d-model", "16", "--layers", "1"];

Deno.test("translator: shared embeddings are one table that both sides train; vocabularies must agree", async () => {
  assertThrows(
    () =>
      translatorConfig({ srcVocab: 9, tgtVocab: 10, sharedEmbeddings: true }),
    RangeError,
    "shared embeddings need one vocabulary, got srcVocab 9 and tgtVocab 10",
  );
  // absent when false, so older configurations compare equal
  assert(
    !("sharedEmbeddings" in translatorConfig({ srcVocab: 9, tgtVocab: 9 })),
  );
  const config = translatorConfig({
    srcVocab: 12,
    tgtVocab: 12,
    dModel: 8,
    heads: 2,
    encLayers: 1,
    decLayers: 1,
    sharedEmbeddings: true,
  });
  const params = initTranslator(key(1), config);
  assertEquals(params.srcEmbed, undefined);
  const batch = {
    src: tensor([[5, 6, 7]], { dtype: "int32" }),
    srcMask: tensor([[1, 1, 1]], { dtype: "int32" }),
    tgtIn: tensor([[1, 8, 9]], { dtype: "int32" }),
    tgtOut: tensor([[8, 9, 2]], { dtype: "int32" }),
    tgtMask: tensor([[1, 1, 1]], { dtype: "int32" }),
  };
  // the same weights as two tables: the loss is equal, and the shared
  // table's gradient is the sum of the two tables' gradients
  const { sharedEmbeddings: _, ...twoConfig } = config;
  const two = { ...params, srcEmbed: params.tgtEmbed };
  const loss = (p: typeof params, c: typeof config) =>
    translatorLoss(p, batch, { config: c });
  assertEquals(
    await loss(params, config).item(),
    await loss(two, twoConfig).item(),
  );
  const g1 = grad((p: typeof params) => loss(p, config))(params);
  const g2 = grad((p: typeof params) => loss(p, twoConfig))(two);
  const shared = await g1.tgtEmbed.table.data();
  const [gs, gt] = await Promise.all([
    g2.srcEmbed!.table.data(),
    g2.tgtEmbed.table.data(),
  ]);
  let srcPart = 0;
  shared.forEach((v, i) => {
    assertAlmostEquals(v, gs[i]! + gt[i]!, 1e-6);
    srcPart += Math.abs(gs[i]!);
  });
  assert(srcPart > 0, "the encoder's gradient reaches the shared table");
});

Deno.test("train --shared-vocab: one vocabulary and one table, kept by the checkpoint and --resume; eval and predict load it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "heed_shared_" });
  try {
    const mt = await tinyMulti30k(await Deno.makeTempDir({ dir }));
    const out = `${dir}/run`;
    const args = ["--task", "translate", "--data", mt, ...CPU, "--out", out];
    const [pcode, plog] = await quiet(() =>
      train([...args, ...SMALL, "--shared-vocab", "40", "--dry-run"])
    );
    assertEquals(pcode, 0, plog);
    assertStringIncludes(
      planned(plog, "model"),
      "one embedding table for both languages",
    );
    const [src, tgt] = /source (\d+), target (\d+)/.exec(
      planned(plog, "vocabulary"),
    )!.slice(1).map(Number);
    assertEquals(src, tgt);
    assert(src! <= 40);
    const [code, log] = await quiet(() =>
      train([...args, ...SMALL, "--shared-vocab", "40", "--epochs", "1"])
    );
    assertEquals(code, 0, log);
    const ck = await loadCheckpoint<
      { srcEmbed?: unknown },
      unknown,
      {
        config: Record<string, unknown>;
        sharedVocab: number;
        srcTokenizer: unknown;
        tgtTokenizer: unknown;
      }
    >(`${out}/checkpoint.safetensors`);
    assertEquals(ck.metadata.config.sharedEmbeddings, true);
    assertEquals(ck.metadata.sharedVocab, 40);
    assertEquals(ck.metadata.srcTokenizer, ck.metadata.tgtTokenizer);
    assertEquals(ck.params.srcEmbed, undefined);
    // --resume keeps the shared vocabulary; another choice is refused
    const resume = [...args, "--resume", "--epochs", "2"];
    const [dcode, dlog] = await quiet(() => train([...resume, "--dry-run"]));
    assertEquals(dcode, 0, dlog);
    assertStringIncludes(planned(dlog, "model"), "one embedding table");
    await assertRejects(
      () => quiet(() => train([...resume, "--shared-vocab", "0", "--dry-run"])),
      RangeError,
      "was trained with a shared vocabulary",
    );
    await assertRejects(
      () =>
        quiet(() => train([...resume, "--shared-vocab", "50", "--dry-run"])),
      RangeError,
      "was trained with --shared-vocab 40, not 50",
    );
    const [rcode, rlog] = await quiet(() =>
      train([...resume, "--shared-vocab", "40"])
    );
    assertEquals(rcode, 0, rlog);
    assertStringIncludes(rlog, "epoch 2:");
    const [ecode, elog] = await quiet(() =>
      evaluate(["--out", out, "--data", mt])
    );
    assertEquals(ecode, 0, elog);
    assertStringIncludes(elog, "BLEU");
    const [qcode, qlog] = await quiet(() =>
      predict(["--out", out, "ein hund läuft"])
    );
    assertEquals(qcode, 0, qlog);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("train --shared-vocab is for the translating Transformer; a run without it refuses it on --resume", async () => {
  assertEquals(parseTrainArgs(["--task", "translate"]).sharedVocab, null);
  assertThrows(
    () => parseTrainArgs(["--task", "translate", "--shared-vocab", "2"]),
    RangeError,
    "--shared-vocab: 0 (two vocabularies) or at least 4 (the special tokens), got 2",
  );
  assertThrows(
    () => parseTrainArgs(["--shared-vocab", "100"]),
    RangeError,
    "--shared-vocab: only for --task translate",
  );
  assertThrows(
    () =>
      parseTrainArgs([
        "--task",
        "translate",
        "--model",
        "gru",
        "--shared-vocab",
        "100",
      ]),
    RangeError,
    "--shared-vocab: only for the Transformer",
  );
  const dir = await Deno.makeTempDir({ prefix: "heed_shared2_" });
  try {
    const mt = await tinyMulti30k(await Deno.makeTempDir({ dir }));
    const out = `${dir}/run`;
    const args = ["--task", "translate", "--data", mt, ...CPU, "--out", out];
    const [code, log] = await quiet(() =>
      train([...args, ...SMALL, "--epochs", "1"])
    );
    assertEquals(code, 0, log);
    await assertRejects(
      () =>
        quiet(() =>
          train([...args, "--resume", "--shared-vocab", "40", "--dry-run"])
        ),
      RangeError,
      "was trained without a shared vocabulary",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
