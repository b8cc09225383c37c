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
  type ClassificationData,
  type LabelEncoder,
  type LabelledBatch,
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
import { type AdamState, adamw } from "./optim.ts";
import { warmupCosine } from "./schedules.ts";
import { batchTokens, padBatch } from "./_pad_batch.ts";
import { accuracy, macroF1 } from "./metrics.ts";
import {
  type Average,
  type EpochRecord,
  fit,
  type FitMetadata,
  type FitProgress,
  loadFitCheckpoint,
  type StepProgress,
} from "./fit.ts";
import { predictClasses } from "../inference.ts";
import { storedConfig } from "../arch/attention_resolve.ts";
import { validateResume } from "./validate.ts";
import { countInit, countParameters, type TrainingPlan } from "./plan.ts";

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
  /**
   * Weight averaging, evaluated and kept as the model's weights (default
   * none; a resumed run keeps its own, and refuses another).
   */
  readonly average?: Average;
  /** Seed of every random choice (default 0). */
  readonly seed?: number;
  /** Fraction of train held out for early stopping (default 0.1). */
  readonly validFraction?: number;
  /**
   * A validation table (columns as `data.train`) for early stopping,
   * instead of holding out `validFraction` of train.
   */
  readonly valid?: aq.ColumnTable;
  /** Stop after this many epochs without a better validation accuracy (default 4). */
  readonly patience?: number;
  /** Rows longer than this many tokens are cut to it (default 128). */
  readonly maxLength?: number;
  /** Called after every epoch with its metrics. */
  readonly onEpoch?: (m: EpochMetrics) => void | Promise<void>;
  /** Called once before training with where the run stands (epoch 0 for a new run). */
  readonly onStart?: (
    progress: FitProgress<ClassifierValidation>,
  ) => void | Promise<void>;
  /** Save a checkpoint after every epoch to `path`; with `resume`, continue from it. */
  readonly checkpoint?: { readonly path: string; readonly resume: boolean };
  /** Called every `progressEvery` steps (no readback happens for it). */
  readonly onStep?: ((p: StepProgress) => void) | undefined;
  /**
   * Run training steps and evaluation forwards under `jit` (default true);
   * `false` runs them eagerly (for debugging, or to compare).
   */
  readonly jit?: boolean;
  /**
   * Pad training batch lengths with masked columns up to a multiple of
   * this (at most the model's maxLen; default 1, no padding): fewer batch
   * shapes, so fewer programs for jit to compile. Masks make the padding
   * inert, but dropout draws for the padded shape, so runs differ from
   * unpadded ones by their random draws.
   */
  readonly padMultiple?: number;
}

/** Validation metrics of one epoch. */
export type ClassifierValidation = { readonly validAccuracy: number };

/** Metrics of one classifier epoch: fit's statistics and the validation accuracy. */
export type EpochMetrics = EpochRecord<ClassifierValidation>;

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

/** What a classifier checkpoint's metadata holds besides fit's progress. */
export interface ClassifierMeta {
  /** Always "classify". */
  readonly task: "classify";
  /** The full model configuration. */
  readonly config: FullClassifierConfig;
  /** The tokenizer, as JSON. */
  readonly tokenizer: TokenizerJSON;
  /** Class names in id order. */
  readonly labels: readonly string[];
}

/** A classifier checkpoint's whole metadata. */
export type ClassifierCheckpointMeta = FitMetadata<
  ClassifierMeta,
  EpochMetrics
>;

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
    const model = { ...resumedModel(saved), ...opts.model };
    return classifierConfig({
      ...model,
      vocabSize: tokenizer.vocab.size,
      ...(model.subwords ? { words: tokenizer.vocab.tokens } : {}),
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
  const { params, progress } = await fit({
    init: r.init,
    // An ensemble's members learn independently: the sum of their losses.
    loss: (p: ClassifierParams, b: LabelledBatch, k: Key) =>
      applyClassifier(p, b, { config, training: true, key: k }).members
        .map((logits) =>
          crossEntropy(logits, b.labels, { labelSmoothing: smoothing })
        )
        .reduce((a, l) => add(a, l)),
    batches: (epoch) =>
      batches(r.trainIds, "ids", {
        batchSize,
        key: foldIn(r.kData, epoch),
        labels: "label",
      }).map((b) => pad > 1 ? padBatch(b, pad, config.maxLen) : b),
    tokens: batchTokens,
    optimizer: adamw({
      lr: warmupCosine({
        peak: opts.lr ?? 2e-3,
        warmup: r.warmup,
        total,
      }),
      weightDecay: opts.weightDecay ?? 0.01,
    }),
    // the global norm of N independent members' gradients is about √N
    // times one member's: the same clip per member
    clip: (opts.clip ?? 1) * Math.sqrt(config.members),
    key: r.kDrop,
    epochs: r.epochs,
    patience: opts.patience ?? 4,
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
