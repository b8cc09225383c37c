/**
 * Training a classifier end to end: data pipeline, model, AdamW with
 * warm-up + cosine, clipping, evaluation every epoch, early stopping, a
 * JSONL log. The step keeps the loss on the device; it is read once per
 * epoch.
 *
 * @module
 */

import type * as aq from "arquero";
import {
  add,
  argmax,
  carry,
  crossEntropy,
  div,
  foldIn,
  type Key,
  key as makeKey,
  scope,
  split,
  type Tensor,
  tensor,
  valueAndGrad,
  zeros,
} from "../../ops/mod.ts";
import { releaseNow } from "../../ops/memory.ts";
import {
  batches,
  type ClassificationData,
  hostBatches,
  type LabelEncoder,
  pipe,
  splitTable,
  tokenize,
  type Tokenizer,
  type TokenizerJSON,
  trainWordTokenizer,
} from "../../data/mod.ts";
import {
  applyClassifier,
  type ClassifierConfig,
  classifierConfig,
  type ClassifierParams,
  type FullClassifierConfig,
  initClassifier,
} from "../arch/classifier.ts";
import { type AdamState, adamw, clipByGlobalNorm } from "./optim.ts";
import { warmupCosine } from "./schedules.ts";
import { accuracy, macroF1 } from "./metrics.ts";
import {
  type CheckpointMetadata,
  loadCheckpoint,
  saveCheckpoint,
} from "./checkpoint.ts";

/** Options of {@link trainClassifier}. */
export interface ClassifierTrainOptions {
  /** Train and test tables (`text`, `label` columns) and the label names. */
  readonly data: ClassificationData;
  /** Model configuration, without vocabSize/numClasses (taken from the data). */
  readonly model?: Omit<ClassifierConfig, "vocabSize" | "numClasses">;
  /** Epochs (default 20). */
  readonly epochs?: number;
  /** Rows per batch (default 64). */
  readonly batchSize?: number;
  /** Peak learning rate (default 2e-3). */
  readonly lr?: number;
  /** AdamW weight decay (default 0.01). */
  readonly weightDecay?: number;
  /** Global-norm clip (default 1). */
  readonly clip?: number;
  /** Label smoothing (default 0.1). */
  readonly labelSmoothing?: number;
  /** Seed of every random choice (default 0). */
  readonly seed?: number;
  /** Fraction of train held out for early stopping (default 0.1). */
  readonly validFraction?: number;
  /** Stop after this many epochs without a better validation accuracy (default 4). */
  readonly patience?: number;
  /** Called after every epoch with its metrics. */
  readonly onEpoch?: (m: EpochMetrics) => void | Promise<void>;
  /** Save a checkpoint after every epoch to `path`; with `resume`, continue from it. */
  readonly checkpoint?: { readonly path: string; readonly resume: boolean };
  /** Called every `progressEvery` steps (no readback happens for it). */
  readonly onStep?: ((p: StepProgress) => void) | undefined;
}

/** Progress within an epoch. */
export interface StepProgress {
  /** Epoch (1-based). */
  readonly epoch: number;
  /** Step within the epoch (1-based). */
  readonly step: number;
  /** Steps in the epoch. */
  readonly steps: number;
  /** Tokens processed so far in this epoch. */
  readonly tokens: number;
  /**
   * The epoch's mean training loss as last read back, or null before the
   * first read. Reads happen at most once a second, between steps, and only
   * when there is an `onStep`.
   */
  readonly loss: number | null;
}

/**
 * Reads the running loss sum back at most once a second, between steps
 * (one small readback a second, for progress bars).
 */
export class LossMonitor {
  #last = -Infinity;
  #mean: number | null = null;
  /** The latest mean loss read. */
  get mean(): number | null {
    return this.#mean;
  }
  /** Starts a new epoch. */
  reset(): void {
    this.#mean = null;
    this.#last = -Infinity;
  }
  /** Reports a step to `onStep`, when there is one, with the loss read so far. */
  async report(
    onStep: ((p: StepProgress) => void) | undefined,
    lossSum: Tensor,
    p: Omit<StepProgress, "loss">,
  ): Promise<void> {
    if (!onStep) return;
    await this.poll(lossSum, p.step);
    onStep({ ...p, loss: this.#mean });
  }
  /** Reads `lossSum / steps` when a second has passed since the last read. */
  async poll(lossSum: Tensor, steps: number): Promise<void> {
    const now = performance.now();
    if (now - this.#last < 1000) return;
    this.#last = now;
    const snap = scope(() => div(lossSum, steps));
    try {
      this.#mean = (await snap.item()) as number;
    } finally {
      releaseNow(snap);
    }
  }
}

/** Metrics of one epoch. */
export interface EpochMetrics {
  /** Epoch (1-based). */
  readonly epoch: number;
  /** Mean training loss over the epoch. */
  readonly loss: number;
  /** Validation accuracy (held-out part of train). */
  readonly validAccuracy: number;
  /** Wall seconds of the epoch. */
  readonly seconds: number;
  /** Training tokens per second. */
  readonly tokensPerSecond: number;
}

/** The outcome of a training run. */
export interface ClassifierTrainResult {
  /** The best parameters (by validation accuracy). */
  readonly params: ClassifierParams;
  /** The full model configuration. */
  readonly config: FullClassifierConfig;
  /** The tokenizer the model reads. */
  readonly tokenizer: Tokenizer;
  /** Test accuracy of the best parameters. */
  readonly testAccuracy: number;
  /** Test macro-F1 of the best parameters. */
  readonly testMacroF1: number;
  /** Per-epoch metrics. */
  readonly history: readonly EpochMetrics[];
  /** The label encoder. */
  readonly labels: LabelEncoder;
}

/** What a classifier checkpoint's metadata holds. */
export interface SavedProgress {
  /** The full model configuration. */
  readonly config: FullClassifierConfig;
  /** The tokenizer, as JSON. */
  readonly tokenizer: TokenizerJSON;
  /** Class names in id order. */
  readonly labels: readonly string[];
  /** The last completed epoch. */
  readonly epoch: number;
  /** Optimiser steps taken. */
  readonly globalStep: number;
  /** Best validation accuracy so far. */
  readonly bestAccuracy: number;
  /** Epoch of the best validation accuracy. */
  readonly bestEpoch: number;
  /** Metrics of the completed epochs. */
  readonly history: readonly EpochMetrics[];
}

interface TrainState {
  readonly params: ClassifierParams;
  readonly opt: AdamState;
  readonly lossSum: Tensor;
  /** The best parameters so far (kept in the loop's state so \`carry\` keeps them alive). */
  readonly best: ClassifierParams | null;
}

/** Predicted class ids for a table's `ids` column. */
export async function predictClasses(
  params: ClassifierParams,
  config: ClassifierConfig,
  table: aq.ColumnTable,
  batchSize = 256,
): Promise<Int32Array> {
  const out = new Int32Array(table.numRows());
  const reads: Promise<void>[] = [];
  for (const b of hostBatches(table, "ids", { batchSize })) {
    const pred = scope(() => {
      const ids = tensor(b.ids, { shape: b.shape, dtype: "int32" });
      const mask = tensor(b.mask, { shape: b.shape, dtype: "int32" });
      return argmax(applyClassifier(params, config, { ids, mask }).logits, {
        axis: -1,
      });
    });
    reads.push(
      pred.data().then((d) => {
        releaseNow(pred);
        b.rows.forEach((r, i) => (out[r] = d[i]!));
      }),
    );
  }
  await Promise.all(reads);
  return out;
}

function labelsOf(table: aq.ColumnTable): Int32Array {
  return Int32Array.from(table.array("label") as ArrayLike<number>);
}

/** Trains a classifier and evaluates it on the test split. */
export async function trainClassifier(
  opts: ClassifierTrainOptions,
): Promise<ClassifierTrainResult> {
  const seed = opts.seed ?? 0;
  const root = makeKey(seed);
  const [kSplit, kInit, kData, kDrop] = split(root, 4);
  const epochs = opts.epochs ?? 20;
  const batchSize = opts.batchSize ?? 64;
  const patience = opts.patience ?? 4;

  // Hold out part of train for early stopping (the test split stays unseen).
  const vf = opts.validFraction ?? 0.1;
  const parts = splitTable(opts.data.train, {
    fractions: { train: 1 - vf, valid: vf },
    key: kSplit!,
  });
  const trainT = parts.train!, validT = parts.valid!;

  const tokenizer = trainWordTokenizer(trainT.array("text") as string[], {
    lower: true,
    minFreq: 1,
  });
  const encode = pipe(tokenize("text", tokenizer, { as: () => "ids" }));
  const [trainIds, validIds, testIds] = [trainT, validT, opts.data.test].map((
    t,
  ) => encode(t));
  const maxLen = Math.max(
    ...[trainIds!, validIds!, testIds!].flatMap((t) =>
      (t.array("ids") as Int32Array[]).map((x) => x.length)
    ),
  );
  const config = classifierConfig({
    ...opts.model,
    vocabSize: tokenizer.vocab.size,
    numClasses: opts.data.labels.size,
    maxLen: Math.max(opts.model?.maxLen ?? 0, maxLen),
  });

  const trainLabels = labelsOf(trainIds!);
  const stepsPerEpoch = Math.ceil(trainIds!.numRows() / batchSize);
  const total = epochs * stepsPerEpoch;
  const optimizer = adamw({
    lr: warmupCosine({
      peak: opts.lr ?? 2e-3,
      warmup: Math.min(200, Math.floor(total / 10)),
      total,
    }),
    weightDecay: opts.weightDecay ?? 0.01,
  });
  const clip = opts.clip ?? 1;
  const smoothing = opts.labelSmoothing ?? 0.1;

  const lossFn = (
    p: ClassifierParams,
    ids: Tensor,
    mask: Tensor,
    y: Tensor,
    k: Key,
  ) =>
    crossEntropy(
      applyClassifier(p, config, { ids, mask }, { training: true, key: k })
        .logits,
      y,
      {
        labelSmoothing: smoothing,
      },
    );
  const vg = valueAndGrad(lossFn);

  let params = initClassifier(kInit!, config);
  let state: TrainState = {
    params,
    opt: optimizer.init(params),
    lossSum: zeros([]),
    best: null,
  };
  let best = { acc: -1, epoch: 0 };
  let history: EpochMetrics[] = [];
  let globalStep = 0;
  let firstEpoch = 1;
  const ckpt = opts.checkpoint;
  if (ckpt?.resume) {
    const saved = await loadCheckpoint<
      ClassifierParams,
      { opt: AdamState; best: ClassifierParams | null }
    >(
      ckpt.path,
    );
    const meta = saved.metadata as unknown as SavedProgress;
    if (JSON.stringify(meta.config) !== JSON.stringify(config)) {
      throw new RangeError(
        `resume: ${ckpt.path} was trained with another configuration; use a new --out`,
      );
    }
    state = {
      params: saved.params,
      opt: saved.optState!.opt,
      lossSum: zeros([]),
      best: saved.optState!.best,
    };
    best = { acc: meta.bestAccuracy, epoch: meta.bestEpoch };
    history = [...meta.history];
    globalStep = meta.globalStep;
    firstEpoch = meta.epoch + 1;
  }
  const monitor = new LossMonitor();
  for (let epoch = firstEpoch; epoch <= epochs; epoch++) {
    const t0 = performance.now();
    const bs = batches(trainIds!, "ids", {
      batchSize,
      key: foldIn(kData!, epoch),
    });
    let tokens = 0;
    monitor.reset();
    state = carry(state, (s) => ({ ...s, lossSum: zeros([]) }));
    for (let i = 0; i < bs.length; i++) {
      const b = bs[i]!;
      const y = tensor(Int32Array.from(b.rows, (r) => trainLabels[r]!));
      const k = foldIn(kDrop!, globalStep++);
      state = carry(state, (s) => {
        const [loss, g] = vg(s.params, b.ids, b.mask, y, k);
        const { grads } = clipByGlobalNorm(g, clip);
        const next = optimizer.update(s.params, grads, s.opt);
        return {
          params: next.params,
          opt: next.state,
          lossSum: add(s.lossSum, loss),
          best: s.best,
        };
      });
      releaseNow(y);
      tokens += b.ids.size;
      await monitor.report(opts.onStep, state.lossSum, {
        epoch,
        step: i + 1,
        steps: bs.length,
        tokens,
      });
    }
    releaseNow(...bs.flatMap((b) => [b.ids, b.mask, b.lengths]));
    const loss = ((await state.lossSum.item()) as number) / bs.length;
    const pred = await predictClasses(state.params, config, validIds!);
    const validAccuracy = accuracy(pred, labelsOf(validIds!));
    const seconds = (performance.now() - t0) / 1000;
    const m: EpochMetrics = {
      epoch,
      loss,
      validAccuracy,
      seconds,
      tokensPerSecond: tokens / seconds,
    };
    history.push(m);
    await opts.onEpoch?.(m);
    const improved = validAccuracy > best.acc;
    if (improved) {
      best = { acc: validAccuracy, epoch };
      state = carry(state, (s) => ({ ...s, best: s.params }));
    }
    if (ckpt) {
      const progress: SavedProgress = {
        config,
        tokenizer: tokenizer.toJSON(),
        labels: [...opts.data.labels.labels],
        epoch,
        globalStep,
        bestAccuracy: best.acc,
        bestEpoch: best.epoch,
        history,
      };
      await saveCheckpoint(ckpt.path, {
        params: state.params,
        optState: { opt: state.opt, best: state.best },
        metadata: progress as unknown as CheckpointMetadata,
      });
    }
    if (!improved && epoch - best.epoch >= patience) break;
  }
  params = state.best ?? state.params;
  const testPred = await predictClasses(params, config, testIds!);
  const gold = labelsOf(testIds!);
  return {
    params,
    config,
    tokenizer,
    testAccuracy: accuracy(testPred, gold),
    testMacroF1: macroF1(testPred, gold, opts.data.labels.size),
    history,
    labels: opts.data.labels,
  };
}
