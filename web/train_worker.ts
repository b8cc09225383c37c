/// <reference lib="webworker" />
// The training worker: loads a slice of the bundled banking77 (served by
// web/serve.ts under /datasets/), trains heed's classifier on it with fit
// on the chosen backend, reports progress to the page, then classifies
// typed sentences and returns their attention. See train_protocol.ts.

import {
  argmax,
  crossEntropy,
  dispose,
  info,
  init,
  key,
  mean,
  scope,
  setBackend,
  softmax,
  type Tensor,
  tensor,
} from "../mod.ts";
import {
  loadDataset,
  trainWordTokenizer,
  type WordTokenizer,
} from "../data/mod.ts";
import {
  adamw,
  applyClassifier,
  type ClassifierConfig,
  type ClassifierParams,
  fit,
  initClassifier,
} from "../models/mod.ts";
import type { ComposeState } from "./spec.ts";
import { composedModule } from "./spec_module.ts";
import type { FromWorker, ToWorker, TrainRequest } from "./train_protocol.ts";

const MAX_LEN = 24, BATCH = 16, VALID_PER_CLASS = 20;

interface Example {
  readonly ids: Int32Array;
  readonly y: number;
}
interface Batch {
  readonly ids: Tensor;
  readonly mask: Tensor;
  readonly y: Tensor;
}

let model: {
  params: ClassifierParams;
  config: ClassifierConfig;
  tok: WordTokenizer;
  labels: readonly string[];
} | null = null;

const post = (m: FromWorker) => self.postMessage(m);

/** A padded batch of examples (`[B, T]` ids and mask, `[B]` labels). */
function batchOf(xs: readonly Example[]): Batch {
  const t = Math.max(1, ...xs.map((x) => x.ids.length));
  const ids = new Int32Array(xs.length * t);
  const mask: boolean[] = [];
  xs.forEach((x, i) => {
    ids.set(x.ids, i * t);
    for (let j = 0; j < t; j++) mask.push(j < x.ids.length);
  });
  return {
    ids: tensor(ids, { shape: [xs.length, t] }),
    mask: tensor(mask, { shape: [xs.length, t], dtype: "bool" }),
    y: tensor(Int32Array.from(xs.map((x) => x.y))),
  };
}

/** `xs` in batches of BATCH, shuffled by `seed` (mulberry32). */
function batches(xs: readonly Example[], seed: number): Batch[] {
  let s = seed >>> 0;
  const rand = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const order = xs.map((x) => ({ x, r: rand() }))
    .sort((a, b) => a.r - b.r).map((o) => o.x);
  const out: Batch[] = [];
  for (let i = 0; i < order.length; i += BATCH) {
    out.push(batchOf(order.slice(i, i + BATCH)));
  }
  return out;
}

/** Mean loss of `params` over `xs` without dropout. */
async function meanLoss(
  params: ClassifierParams,
  config: ClassifierConfig,
  xs: readonly Example[],
): Promise<number> {
  let total = 0;
  for (let i = 0; i < xs.length; i += 64) {
    const part = xs.slice(i, i + 64);
    const b = batchOf(part);
    const l = scope(() =>
      crossEntropy(applyClassifier(params, b, { config }).logits, b.y)
    );
    total += (await l.item() as number) * part.length;
    dispose([b, l]);
  }
  return total / xs.length;
}

async function accuracy(
  params: ClassifierParams,
  config: ClassifierConfig,
  xs: readonly Example[],
): Promise<number> {
  const b = batchOf(xs);
  const guess = scope(() =>
    argmax(applyClassifier(params, b, { config }).logits, { axis: -1 })
  );
  const g = await guess.data();
  dispose([b, guess]);
  return xs.filter((x, i) => g[i] === x.y).length / xs.length;
}

/** The composition in words: "bilinear + softmax | dot + sparsemax (gate)". */
function describe(s: ComposeState): string {
  const parts = s.modules.map((m) => `${m.score} + ${m.normaliser}`);
  return parts.join(" | ") + (parts.length > 1 ? ` (${s.combine})` : "");
}

async function train(r: TrainRequest): Promise<void> {
  const t0 = performance.now();
  post({ type: "status", text: `starting ${r.backend}…` });
  await init();
  await setBackend(r.backend);
  post({ type: "status", text: "loading banking77…" });
  const path = new URL("/datasets/banking77/", self.location.href);
  const data = await loadDataset("banking77", { path });
  const pick = (table: typeof data.train, per: number) => {
    const texts = table.array("text") as string[];
    const ys = table.array("label") as number[];
    const taken = new Array(r.classes).fill(0);
    const out: { text: string; y: number }[] = [];
    ys.forEach((y, i) => {
      if (y < r.classes && taken[y]++ < per) out.push({ text: texts[i]!, y });
    });
    return out;
  };
  const trainRows = pick(data.train, r.perClass);
  const validRows = pick(data.test, VALID_PER_CLASS);
  const tok = trainWordTokenizer(trainRows.map((x) => x.text), { lower: true });
  const enc = (rows: { text: string; y: number }[]) =>
    rows.map((x) => ({ ids: tok.encode(x.text).slice(0, MAX_LEN), y: x.y }));
  const trainXs = enc(trainRows), validXs = enc(validRows);
  const labels = Array.from(
    { length: r.classes },
    (_, i) => data.labels.decode(i),
  );
  const config: ClassifierConfig = {
    vocabSize: tok.vocab.size,
    numClasses: r.classes,
    dModel: 32,
    heads: 2,
    layers: 1,
    maxLen: MAX_LEN,
    dropout: 0.1,
    attention: r.attention ? composedModule(r.attention) : "scaled-dot",
  };
  const init0 = initClassifier(key(r.seed), config);
  const initialLoss = await meanLoss(init0, config, trainXs);
  const steps = Math.ceil(trainXs.length / BATCH);
  post({
    type: "start",
    labels,
    train: trainXs.length,
    valid: validXs.length,
    steps: steps * r.epochs,
    initialLoss,
    backend: r.backend,
    attention: r.attention ? describe(r.attention) : "scaled-dot",
    wasmThreads: info().wasmThreads,
  });
  const { params, progress } = await fit({
    init: () => init0,
    loss: (p: ClassifierParams, b: Batch, k) =>
      crossEntropy(
        applyClassifier(p, b, { config, training: true, key: k }).logits,
        b.y,
      ),
    batches: (epoch) => batches(trainXs, r.seed * 1000 + epoch),
    optimizer: adamw({ lr: 3e-3 }),
    key: key(r.seed + 1),
    epochs: r.epochs,
    evaluate: async (p) => ({
      validAccuracy: await accuracy(p, config, validXs),
    }),
    score: (m) => m.validAccuracy,
    onStep: (p) =>
      post({
        type: "step",
        epoch: p.epoch,
        step: p.step,
        steps: p.steps,
        loss: p.loss,
      }),
    onEpoch: (e) =>
      post({
        type: "epoch",
        epoch: e.epoch,
        loss: e.loss,
        validAccuracy: e.validAccuracy,
        stepMs: (e.seconds * 1000) / steps,
      }),
  });
  model = { params, config, tok, labels };
  post({
    type: "done",
    initialLoss,
    finalLoss: await meanLoss(params, config, trainXs),
    validAccuracy: progress.bestScore ?? 0,
    seconds: (performance.now() - t0) / 1000,
  });
}

async function classify(text: string): Promise<void> {
  if (!model) throw new Error("train a model first");
  const { params, config, tok, labels } = model;
  const ids = tok.encode(text).slice(0, MAX_LEN);
  if (ids.length === 0) throw new RangeError("type at least one word");
  const tokens = tok.tokenize(text).slice(0, MAX_LEN).map((s) => s.trim());
  const b = batchOf([{ ids, y: 0 }]);
  const out = scope(() => {
    const r = applyClassifier(params, b, { config });
    return {
      p: softmax(r.logits, { axis: -1 }), // [1, C]
      w: mean(r.weights[0]!, { axis: 1 }), // [1, T, T], the heads averaged
    };
  });
  const [p, w] = await Promise.all([out.p.data(), out.w.data()]);
  dispose([b, out]);
  const t = ids.length;
  const top = labels.map((label, i) => ({ label, p: p[i] as number }))
    .sort((a, c) => c.p - a.p).slice(0, 3);
  const weights = Array.from(
    { length: t },
    (_, i) => Array.from({ length: t }, (_, j) => w[i * t + j] as number),
  );
  post({ type: "classified", tokens, top, weights });
}

self.onmessage = (ev: MessageEvent<ToWorker>) => {
  const m = ev.data;
  const job = m.type === "train" ? train(m) : classify(m.text);
  job.catch((e: unknown) =>
    post({
      type: "error",
      message: e instanceof Error
        ? `${e.message}\n${e.stack ?? ""}`
        : String(e),
    })
  );
};
