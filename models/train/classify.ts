/**
 * Training a classifier end to end on {@link fit}: word tokenizer, padded
 * batches, AdamW with warm-up + cosine, clipping, label smoothing,
 * validation accuracy every epoch, early stopping, and test accuracy and
 * macro-F1 of the best epoch.
 *
 * @module
 */

import type * as aq from "arquero";
import {
  add,
  crossEntropy,
  dispose,
  foldIn,
  type Key,
  key as makeKey,
  split,
} from "../../ops/mod.ts";
import {
  batches,
  type LabelledBatch,
  pipe,
  splitTable,
  tokenize,
  trainWordTokenizer,
} from "../../data/mod.ts";
import {
  applyClassifier,
  type ClassifierConfig,
  classifierConfig,
  type ClassifierParams,
  initClassifier,
} from "../arch/classifier.ts";
import { type AdamState, adamw } from "./optim.ts";
import { warmupCosine } from "./schedules.ts";
import { batchTokens, padBatch } from "./_pad_batch.ts";
import { accuracy, macroF1 } from "./metrics.ts";
import { fit, loadFitCheckpoint } from "./fit.ts";
import type {
  ClassifierMeta,
  ClassifierTrainOptions,
  ClassifierTrainResult,
  ClassifierValidation,
} from "./classify_types.ts";
import { predictClasses } from "../inference.ts";
import { pretrainClassifier } from "./_pretrain.ts";
import { storedConfig } from "../arch/attention_resolve.ts";
import { validateResume } from "./validate.ts";
import { countInit, countParameters, type TrainingPlan } from "./plan.ts";

export type {
  ClassifierCheckpointMeta,
  ClassifierMeta,
  ClassifierTrainOptions,
  ClassifierTrainResult,
  ClassifierValidation,
  EpochMetrics,
} from "./classify_types.ts";

function labelsOf(table: aq.ColumnTable): Int32Array {
  return Int32Array.from(table.array("label") as ArrayLike<number>);
}

/** The model options a checkpoint's config holds that `train` flags set. */
function resumedModel(saved: unknown): Partial<ClassifierConfig> {
  const c = (saved ?? {}) as Record<string, unknown>;
  const out: Record<string, number> = {};
  for (const k of RESUMED) if (typeof c[k] === "number") out[k] = c[k];
  return out;
}

/** The model options `train` sets by flags, which a resumed run keeps. */
const RESUMED = [
  "members",
  "subwords",
  "bag",
  "dModel",
  "heads",
  "layers",
  "ffHidden",
  "dropout",
] as const;

/** Everything before fit: the split, the tokenizer, the model, a resumed checkpoint. */
async function prepare(opts: ClassifierTrainOptions) {
  const seed = opts.seed ?? 0;
  const root = makeKey(seed);
  const [kSplit, kInit, kData, kDrop] = split(root, 4);
  const epochs = opts.epochs ?? 20;
  const batchSize = opts.batchSize ?? 64;

  // Hold out part of train for early stopping (the test split stays unseen).
  const vf = opts.validFraction ?? 0.1;
  const parts = opts.valid
    ? { train: opts.data.train, valid: opts.valid }
    : splitTable(opts.data.train, {
      fractions: { train: 1 - vf, valid: vf },
      key: kSplit!,
    });
  const trainT = parts.train!, validT = parts.valid!;

  const tokenizer = trainWordTokenizer(trainT.array("text") as string[], {
    lower: true,
    minFreq: 1,
  });
  // Longer rows are cut to maxLength tokens: one 3,000-word row would
  // otherwise size every batch's attention (and the position table).
  const cap = opts.maxLength ?? 128;
  const encode = pipe(
    tokenize("text", tokenizer, { as: () => "ids" }),
    (t: aq.ColumnTable) =>
      t.reify().assign({
        ids: (t.array("ids") as Int32Array[]).map((x) =>
          x.length > cap ? x.subarray(0, cap) : x
        ),
      }),
  );
  const [trainIds, validIds, testIds] = [trainT, validT, opts.data.test].map((
    t,
  ) => encode(t));
  let maxLen = 1;
  for (const t of [trainIds!, validIds!, testIds!]) {
    for (const x of t.array("ids") as Int32Array[]) {
      maxLen = Math.max(maxLen, x.length);
    }
  }
  const configWith = (saved: unknown) => {
    // a resumed run keeps its checkpoint's model options unless given again
    const model = {
      ...(saved === undefined ? opts.newRunModel : {}),
      ...resumedModel(saved),
      ...opts.model,
    };
    return classifierConfig({
      ...model,
      vocabSize: tokenizer.vocab.size,
      ...(model.subwords || model.bag ? { words: tokenizer.vocab.tokens } : {}),
      numClasses: opts.data.labels.size,
      maxLen: Math.max(opts.model?.maxLen ?? 0, maxLen),
    });
  };
  let config = configWith(undefined);

  const stepsPerEpoch = Math.ceil(trainIds!.numRows() / batchSize);
  const total = epochs * stepsPerEpoch;
  const smoothing = opts.labelSmoothing ?? 0.1;
  const labels = [...opts.data.labels.labels];
  const ckpt = opts.checkpoint;
  const resume = ckpt?.resume
    ? await loadFitCheckpoint<
      ClassifierParams,
      AdamState,
      ClassifierMeta,
      ClassifierValidation
    >(
      ckpt.path,
      // The same task, model, classes and vocabulary, or a clear refusal.
      (meta) => {
        config = configWith(meta.config);
        validateResume({
          ...(meta.task === undefined ? {} : { task: meta.task }),
          ...(meta.config === undefined ? {} : { model: meta.config }),
          ...(meta.labels === undefined ? {} : { labels: meta.labels }),
          ...(meta.tokenizer === undefined
            ? {}
            : { tokenizer: meta.tokenizer }),
        }, {
          task: "classify",
          model: storedConfig(config),
          labels,
          tokenizer: tokenizer.toJSON(),
        });
      },
    )
    : null;
  const warmup = Math.min(200, Math.floor(total / 10));
  const init = () => initClassifier(kInit!, config);
  return {
    kData: kData!,
    kDrop: kDrop!,
    epochs,
    batchSize,
    tokenizer,
    trainIds: trainIds!,
    validIds: validIds!,
    testIds: testIds!,
    config,
    stepsPerEpoch,
    total,
    warmup,
    smoothing,
    labels,
    resume,
    init,
  };
}

/** Epochs without a better validation accuracy before stopping, by default. */
const PATIENCE = 4;

/**
 * Checks the data, the options and a resumed checkpoint, builds the model
 * and says what {@link trainClassifier} would train; trains nothing.
 */
export async function planClassifier(
  opts: ClassifierTrainOptions,
): Promise<TrainingPlan> {
  const r = await prepare(opts);
  const parameters = r.resume
    ? countParameters(r.resume.params)
    : countInit(r.init);
  if (r.resume) dispose([r.resume.params, r.resume.opt, r.resume.best]);
  return {
    parameters,
    config: storedConfig(r.config),
    vocab: { words: r.tokenizer.vocab.size },
    rows: {
      train: r.trainIds.numRows(),
      valid: r.validIds.numRows(),
      test: r.testIds.numRows(),
    },
    stepsPerEpoch: r.stepsPerEpoch,
    epochs: r.epochs,
    warmup: r.warmup,
    decay: { kind: "cosine", steps: r.total },
    patience: opts.patience ?? PATIENCE,
    resumeEpoch: r.resume?.metadata.fit.epoch ?? null,
  };
}

/** Trains a classifier and evaluates it on the test split. */
export async function trainClassifier(
  opts: ClassifierTrainOptions,
): Promise<ClassifierTrainResult> {
  const r = await prepare(opts);
  const { config, smoothing, batchSize, total, labels, tokenizer } = r;
  const ckpt = opts.checkpoint;
  const jit = opts.jit ?? true;
  const pad = opts.padMultiple ?? 1;
  if (!Number.isInteger(pad) || pad < 1) {
    throw new RangeError(
      `trainClassifier: padMultiple must be a positive integer, got ${pad}`,
    );
  }
  const epochBatches = (key: Key) =>
    batches(r.trainIds, "ids", { batchSize, key, labels: "label" })
      .map((b) => pad > 1 ? padBatch(b, pad, config.maxLen) : b);
  const lr = opts.lr ?? 2e-3;
  const weightDecay = opts.weightDecay ?? 0.01;
  // the global norm of N independent members' gradients is about √N
  // times one member's: the same clip per member
  const clip = (opts.clip ?? 1) * Math.sqrt(config.members);
  const pre = opts.pretrain ?? 0;
  if (!Number.isInteger(pre) || pre < 0) {
    throw new RangeError(
      `trainClassifier: pretrain must be an integer of at least 0, got ${pre}`,
    );
  }
  const [kPreData, kPre] = split(r.kData, 2);
  const pretrained = pre > 0 && !r.resume
    ? await pretrainClassifier({
      init: r.init,
      config,
      batches: (epoch) => epochBatches(foldIn(kPreData!, epoch)),
      stepsPerEpoch: r.stepsPerEpoch,
      epochs: pre,
      lr,
      weightDecay,
      clip,
      key: kPre!,
      jit,
      ...(opts.onPretrainEpoch ? { onEpoch: opts.onPretrainEpoch } : {}),
    })
    : null;
  const { params, progress } = await fit({
    init: pretrained ? () => pretrained : r.init,
    // An ensemble's members learn independently: the sum of their losses.
    loss: (p: ClassifierParams, b: LabelledBatch, k: Key) =>
      applyClassifier(p, b, { config, training: true, key: k }).members
        .map((logits) =>
          crossEntropy(logits, b.labels, { labelSmoothing: smoothing })
        )
        .reduce((a, l) => add(a, l)),
    batches: (epoch) => epochBatches(foldIn(r.kData, epoch)),
    tokens: batchTokens,
    optimizer: adamw({
      lr: warmupCosine({ peak: lr, warmup: r.warmup, total }),
      weightDecay,
    }),
    clip,
    key: r.kDrop,
    epochs: r.epochs,
    patience: opts.patience ?? PATIENCE,
    evaluate: async (p) => ({
      validAccuracy: accuracy(
        await predictClasses({ params: p, config }, r.validIds, { jit }),
        labelsOf(r.validIds),
      ),
    }),
    score: (m) => m.validAccuracy,
    ...(ckpt
      ? {
        checkpoint: {
          path: ckpt.path,
          metadata: {
            task: "classify",
            // a module is kept as its record { id, source }
            config: storedConfig(config),
            tokenizer: tokenizer.toJSON(),
            labels,
          } satisfies ClassifierMeta,
        },
      }
      : {}),
    resume: r.resume,
    ...(opts.average ? { average: opts.average } : {}),
    ...(opts.onEpoch ? { onEpoch: opts.onEpoch } : {}),
    ...(opts.onStart ? { onStart: opts.onStart } : {}),
    onStep: opts.onStep,
    jit,
  });
  const testPred = await predictClasses({ params, config }, r.testIds, {
    jit,
  });
  const gold = labelsOf(r.testIds);
  return {
    params,
    config,
    tokenizer,
    testAccuracy: accuracy(testPred, gold),
    testMacroF1: macroF1(testPred, gold, opts.data.labels.size),
    history: progress.history,
    labels: opts.data.labels,
  };
}
