// A checkpoint is checked against the model before it is used, and a
// --resume that changes the classes is refused; both say what differs.

import { assert, assertEquals, assertRejects } from "@std/assert";
import * as h from "../../mod.ts";
import { type Tensor, tensor, treeFlatten, treeUnflatten } from "../../mod.ts";
import { LabelEncoder, loadDataset } from "../../data/mod.ts";
import { loadClassifier, loadTrained } from "../../models/inference.ts";
import {
  loadCheckpoint,
  saveCheckpoint,
} from "../../models/train/checkpoint.ts";
import { trainClassifier } from "../../models/train/classify.ts";

/** Two banking77 intents, 30 rows each, split 24/6 (small and fast). */
async function tinyData(rename = false) {
  const d = await loadDataset("banking77");
  const pick = (t: typeof d.train, n: number) =>
    t.filter((r: { label: number }) => r.label < 2).slice(0, n);
  const labels = rename
    ? new LabelEncoder(["x", ...d.labels.labels.slice(1)])
    : d.labels;
  return { train: pick(d.train, 40), test: pick(d.test, 6), labels };
}

const model = { dModel: 16, heads: 2, layers: 1 };

Deno.test("a checkpoint whose parameter has the wrong dtype is refused, naming it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "heed_inf_" });
  try {
    const path = `${dir}/checkpoint.safetensors`;
    await trainClassifier({
      data: await tinyData(),
      model,
      epochs: 1,
      batchSize: 8,
      checkpoint: { path, resume: false },
    });
    assertEquals((await loadTrained(path)).task, "classify");
    const ck = await loadCheckpoint(path);
    // the same bytes' width, another dtype: I32 instead of F32
    const [leaves, def] = treeFlatten(ck.params);
    const bad = treeUnflatten(
      def,
      leaves.map((l, i) => {
        const t = l as Tensor;
        return i === 0
          ? tensor(new Int32Array(t.size), { shape: [...t.shape] })
          : t;
      }),
    );
    await saveCheckpoint(path, {
      params: bad,
      metadata: ck.metadata,
    });
    await assertRejects(
      () => loadClassifier(path),
      TypeError,
      "is int32 (I32) in the checkpoint",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("--resume with other class names is refused, naming the labels", async () => {
  const dir = await Deno.makeTempDir({ prefix: "heed_inf_" });
  try {
    const path = `${dir}/checkpoint.safetensors`;
    const opts = { model, epochs: 2, batchSize: 8 };
    await trainClassifier({
      ...opts,
      epochs: 1,
      data: await tinyData(),
      checkpoint: { path, resume: false },
    });
    await assertRejects(
      async () =>
        await trainClassifier({
          ...opts,
          data: await tinyData(true),
          checkpoint: { path, resume: true },
        }),
      Error,
      "--resume: the labels differ from the checkpoint's",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("translateText stops at twice the source length plus 5 tokens", async () => {
  const { trainBpe } = await import("../../data/mod.ts");
  const { initTranslator, translatorConfig } = await import(
    "../../models/arch/translator.ts"
  );
  const { translateText } = await import("../../models/inference.ts");
  const text = ["ein hund", "eine katze", "der mann"];
  const srcTokenizer = trainBpe(text, { vocabSize: 40 });
  const tgtTokenizer = trainBpe(["a dog", "a cat", "the man"], {
    vocabSize: 40,
  });
  const config = translatorConfig({
    srcVocab: srcTokenizer.vocab.size,
    tgtVocab: tgtTokenizer.vocab.size,
    dModel: 8,
    heads: 2,
    encLayers: 1,
    decLayers: 1,
    maxLen: 64,
  });
  // Untrained: it never picks <eos>, so only the cap ends the output.
  for (let seed = 0; seed < 8; seed++) {
    const m = {
      arch: "transformer" as const,
      params: initTranslator(h.key(seed), config),
      config,
      srcTokenizer,
      tgtTokenizer,
      metadata: {
        task: "translate" as const,
        arch: "transformer" as const,
        config,
        columns: { source: "de", target: "en" },
        srcTokenizer: srcTokenizer.toJSON(),
        tgtTokenizer: tgtTokenizer.toJSON(),
      },
    };
    const t = await translateText(m, "ein hund", { beam: 1 });
    const source = t.sourceTokens.length; // with </s>
    assert(
      t.targetTokens.length - 1 <= 2 * source + 5,
      `${t.targetTokens.length - 1} tokens from ${source}`,
    );
  }
});
