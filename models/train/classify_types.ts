/**
 * The option, metadata and result types of `trainClassifier`, apart
 * from its code so that each file holds one idea.
 *
 * @module
 */

import type * as aq from "arquero";
import type {
  ClassificationData,
  LabelEncoder,
  Tokenizer,
  TokenizerJSON,
} from "../../data/mod.ts";
import type {
  ClassifierConfig,
  ClassifierParams,
  FullClassifierConfig,
} from "../arch/classifier.ts";
import type {
  Average,
  EpochRecord,
  FitMetadata,
  FitProgress,
  StepProgress,
} from "./fit_types.ts";

/** Options of `trainClassifier`. */
export interface ClassifierTrainOptions {
  /** Train and test tables (`text`, `label` columns) and the label names. */
  readonly data: ClassificationData;
  /** Model configuration, without vocabSize/numClasses (taken from the data). */
  readonly model?: Omit<ClassifierConfig, "vocabSize" | "numClasses">;
  /**
   * Model options a new run takes where `model` does not give them; a
   * resumed run keeps its checkpoint's instead (`deno task train` passes
   * three members and a bag member here).
   */
  readonly newRunModel?: Pick<ClassifierConfig, "members" | "bag">;
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
  /**
   * Epochs of masked-token pretraining on the training texts before
   * training the classifier (default 0, none): 15 % of each row's tokens
   * are masked and predicted through the tied word embeddings. Skipped
   * when resuming (the checkpoint's parameters hold it).
   */
  readonly pretrain?: number;
  /** Called after every pretraining epoch with its masked-token loss. */
  readonly onPretrainEpoch?: (
    epoch: number,
    loss: number,
  ) => void | Promise<void>;
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
