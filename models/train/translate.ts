/**
 * Training a translator end to end on {@link fit}: BPE per language,
 * length-bucketed batches, AdamW with inverse-square-root warm-up, label
 * smoothing,
 * corpus BLEU and chrF on the validation set every epoch (greedy), and
 * test scores with beam search at the end. The training step and the
 * Transformer's decoding run under `jit` unless `jit: false`.
 *
 * @module
 */

import { dispose, foldIn, type Key } from "../../ops/mod.ts";
import {
  type Tokenizer,
  type TokenizerJSON,
  translationBatches,
  type TranslationData,
} from "../../data/mod.ts";
import {
  type FullTranslatorConfig,
  type TranslationInput,
  type TranslatorConfig,
  translatorLoss,
  type TranslatorParams,
} from "../arch/translator.ts";
import { type GruConfig, gruLoss, type GruParams } from "../arch/gru.ts";
import { adamw } from "./optim.ts";
import { inverseSqrt, warmupCosine } from "./schedules.ts";
import { corpusBleu, corpusChrf } from "./metrics.ts";
import type { Average } from "./fit_types.ts";
import {
  type EpochRecord,
  fit,
  type FitMetadata,
  type FitProgress,
  type StepProgress,
} from "./fit.ts";
import { translateTable } from "../inference.ts";
import { storedConfig } from "../arch/attention_resolve.ts";
import { countInit, countParameters, type TrainingPlan } from "./plan.ts";
import { prepare } from "./_translate_setup.ts";

/** Options of {@link trainTranslator}. */
export interface TranslatorTrainOptions {
  /** Parallel tables with a source and a target text column. */
  readonly data: TranslationData;
  /** Source column (default "de"). */
  readonly source?: string;
  /** Target column (default "en"). */
  readonly target?: string;
  /** The model: the Transformer (default) or the GRU + additive-attention baseline. */
  readonly arch?: "transformer" | "gru";
  /** Model configuration without vocabulary sizes. */
  readonly model?: Omit<TranslatorConfig, "srcVocab" | "tgtVocab">;
  /**
   * BPE vocabulary per language (default 4000); with the model's
   * `sharedEmbeddings`, of the one vocabulary learned from both languages'
   * training texts (default 8000). A resumed run keeps its tokenizers; another
   * shared size is an error.
   */
  readonly vocabSize?: number;
  /** Epochs (default 10). */
  readonly epochs?: number;
  /** Tokens per batch, counted with padding (default 4096). */
  readonly maxTokens?: number;
  /** Peak learning rate (default 1e-3). */
  readonly lr?: number;
  /**
   * Warm-up steps (default 400; a resumed run keeps its checkpoint's, and
   * another value is an error).
   */
  readonly warmup?: number;
  /**
   * How the learning rate falls after warm-up (default "inverse-sqrt":
   * `lr·√(warmup / step)`). "cosine" decays it to 0 over `epochs` epochs of
   * the first epoch's batch count, so the last epoch anneals; a resumed run
   * keeps its checkpoint's decay and length, and another one is an error.
   */
  readonly decay?: TranslatorDecay;
  /** Label smoothing (default 0.1). */
  readonly labelSmoothing?: number;
  /** Seed (default 0). */
  readonly seed?: number;
  /** Validation sentences decoded each epoch (default 500). */
  readonly validSentences?: number;
  /** Beam width for the final test decoding (default 4; 1 = greedy). */
  readonly beam?: number;
  /**
   * Stop after this many epochs without a better validation BLEU
   * (default 3).
   */
  readonly patience?: number;
  /**
   * A training-time budget in seconds, counted over every epoch including
   * those of a resumed run: no epoch starts that the last epoch's duration
   * says would end past it. Default: no budget.
   */
  readonly maxSeconds?: number;
  /** Save a checkpoint after every epoch to `path`; with `resume`, continue from it. */
  readonly checkpoint?: { readonly path: string; readonly resume: boolean };
  /**
   * Average the weights (default: none): the average is what validation,
   * the test decoding and the checkpoint use (see `FitOptions.average`).
   */
  readonly average?: Average;
  /** Called after each epoch. */
  readonly onEpoch?: (m: TranslationEpochMetrics) => void | Promise<void>;
  /**
   * Called once before training with where the run stands (epoch 0 for a
   * new run) and the warm-up it uses (a resumed run's own).
   */
  readonly onStart?: (
    progress: FitProgress<TranslatorValidation>,
    setup: { readonly warmup: number },
  ) => void | Promise<void>;
  /** Called after each step (no readback happens for it). */
  readonly onStep?: ((p: StepProgress) => void) | undefined;
  /**
   * Run the training step, and the Transformer's validation and test
   * decoding, under `jit` (default true; false runs them eagerly).
   */
  readonly jit?: boolean;
}

/** Validation metrics of one epoch. */
export type TranslatorValidation = {
  /** Validation corpus BLEU (greedy decoding). */
  readonly validBleu: number;
  /** Validation chrF. */
  readonly validChrf: number;
};

/** Metrics of one translator epoch: fit's statistics, validation BLEU and chrF. */
export type TranslationEpochMetrics = EpochRecord<TranslatorValidation>;

type Params = TranslatorParams | GruParams;

/** What a translator checkpoint's metadata holds besides fit's progress. */
export interface TranslatorMeta {
  /** Always "translate". */
  readonly task: "translate";
  /** The architecture. */
  readonly arch: "transformer" | "gru";
  /** The full model configuration. */
  readonly config: FullTranslatorConfig | GruConfig;
  /** Source and target column names. */
  readonly columns: { readonly source: string; readonly target: string };
  /** The source BPE tokenizer, as JSON. */
  readonly srcTokenizer: TokenizerJSON;
  /** The target BPE tokenizer, as JSON. */
  readonly tgtTokenizer: TokenizerJSON;
  /** Warm-up steps of the learning rate (absent in older checkpoints: 400 or the caller's). */
  readonly warmup?: number;
  /** The size asked of a shared vocabulary (present only with shared embeddings). */
  readonly sharedVocab?: number;
  /** A cosine decay's length in steps (absent: the inverse-square-root decay). */
  readonly cosineSteps?: number;
}

/** How a translator's learning rate falls after warm-up. */
export type TranslatorDecay = "inverse-sqrt" | "cosine";

/** A translator checkpoint's whole metadata. */
export type TranslatorCheckpointMeta = FitMetadata<
  TranslatorMeta,
  TranslationEpochMetrics
>;

/** The outcome of a translation run. */
export interface TranslatorTrainResult {
  /** The best parameters (by validation BLEU). */
  readonly params: TranslatorParams | GruParams;
  /** The full model configuration. */
  readonly config: FullTranslatorConfig | GruConfig;
  /** The source BPE tokenizer. */
  readonly srcTokenizer: Tokenizer;
  /** The target BPE tokenizer. */
  readonly tgtTokenizer: Tokenizer;
  /** sacreBLEU's default: 13a tokenisation, cased. */
  readonly testBleu: number;
  /** Lower-cased, 13a-tokenised BLEU (how the published Multi30k numbers are computed). */
  readonly testBleuLower: number;
  /** Test chrF. */
  readonly testChrf: number;
  /** Per-epoch metrics. */
  readonly history: readonly TranslationEpochMetrics[];
  /** Epoch of the best validation BLEU (whose parameters were tested). */
  readonly bestEpoch: number;
  /** Training seconds over all epochs (validation and test excluded). */
  readonly trainSeconds: number;
}

/** Epochs without a better validation BLEU before stopping, by default. */
const PATIENCE = 3;

/**
 * Checks the data, the options and a resumed checkpoint, builds the model
 * and says what {@link trainTranslator} would train; trains nothing.
 */
export async function planTranslator(
  opts: TranslatorTrainOptions,
): Promise<TrainingPlan> {
  const p = await prepare(opts);
  const parameters = p.resume
    ? countParameters(p.resume.params)
    : countInit(p.init);
  if (p.resume) dispose([p.resume.params, p.resume.opt, p.resume.best]);
  return {
    parameters,
    config: storedConfig(p.config),
    vocab: { source: p.srcTok.vocab.size, target: p.tgtTok.vocab.size },
    rows: {
      train: p.trainIds.numRows(),
      valid: p.validIds.numRows(),
      test: p.testIds.numRows(),
    },
    stepsPerEpoch: p.stepsPerEpoch,
    epochs: opts.epochs ?? 10,
    warmup: p.warmup,
    decay: p.cosineSteps === undefined
      ? { kind: "inverse-sqrt" }
      : { kind: "cosine", steps: p.cosineSteps },
    patience: opts.patience ?? PATIENCE,
    resumeEpoch: p.resume?.metadata.fit.epoch ?? null,
  };
}

/** Trains a translator and scores it on the test split. */
export async function trainTranslator(
  opts: TranslatorTrainOptions,
): Promise<TranslatorTrainResult> {
  if (opts.jit !== undefined && typeof opts.jit !== "boolean") {
    throw new TypeError(
      `trainTranslator: jit must be a boolean, got ${typeof opts.jit}`,
    );
  }
  const useJit = opts.jit ?? true;
  const r = await prepare(opts);
  const { config, model, warmup, labelSmoothing, srcTok, tgtTok } = r;
  const peak = opts.lr ?? 1e-3;
  const ckpt = opts.checkpoint;
  const refs = r.validRaw.array(r.tgtCol) as string[];
  const { params, progress } = await fit({
    init: r.init,
    loss: (p: Params, b: TranslationInput, key: Key) => {
      const m = model(p);
      return m.arch === "gru"
        ? gruLoss(m.params, b, { config: m.config, labelSmoothing })
        : translatorLoss(m.params, b, {
          config: m.config,
          training: true,
          key,
          labelSmoothing,
        });
    },
    batches: (epoch) =>
      translationBatches(r.trainIds, {
        ...r.batchOptions,
        key: foldIn(r.kData, epoch),
      }),
    tokens: (b) => b.src.size + b.tgtIn.size,
    optimizer: adamw({
      lr: r.cosineSteps === undefined
        ? inverseSqrt({ peak, warmup })
        : warmupCosine({ peak, warmup, total: r.cosineSteps }),
    }),
    clip: 1,
    key: r.kDrop,
    epochs: opts.epochs ?? 10,
    patience: opts.patience ?? PATIENCE,
    ...(opts.maxSeconds === undefined ? {} : { maxSeconds: opts.maxSeconds }),
    ...(opts.average ? { average: opts.average } : {}),
    evaluate: async (p) => {
      const hyp = await translateTable(model(p), r.validIds, {
        beam: 1,
        jit: useJit,
      });
      return {
        validBleu: corpusBleu(hyp, refs).score,
        validChrf: corpusChrf(hyp, refs).score,
      };
    },
    score: (m) => m.validBleu,
    ...(ckpt
      ? {
        checkpoint: {
          path: ckpt.path,
          metadata: {
            task: "translate",
            arch: r.archName,
            // a module is kept as its record { id, source }
            config: storedConfig(config),
            columns: { source: r.srcCol, target: r.tgtCol },
            srcTokenizer: srcTok.toJSON(),
            tgtTokenizer: tgtTok.toJSON(),
            warmup,
            ...(r.sharedVocab === undefined
              ? {}
              : { sharedVocab: r.sharedVocab }),
            ...(r.cosineSteps === undefined
              ? {}
              : { cosineSteps: r.cosineSteps }),
          } satisfies TranslatorMeta,
        },
      }
      : {}),
    resume: r.resume,
    ...(opts.onEpoch ? { onEpoch: opts.onEpoch } : {}),
    ...(opts.onStart
      ? {
        onStart: (p: FitProgress<TranslatorValidation>) =>
          opts.onStart!(p, { warmup }),
      }
      : {}),
    onStep: opts.onStep,
    jit: useJit,
  });
  const hyp = await translateTable(model(params), r.testIds, {
    beam: opts.beam ?? 4,
    jit: useJit,
  });
  const testRefs = opts.data.test.array(r.tgtCol) as string[];
  return {
    params,
    config,
    srcTokenizer: srcTok,
    tgtTokenizer: tgtTok,
    testBleu: corpusBleu(hyp, testRefs).score,
    testBleuLower: corpusBleu(hyp, testRefs, { lowercase: true }).score,
    testChrf: corpusChrf(hyp, testRefs).score,
    history: progress.history,
    bestEpoch: progress.bestEpoch,
    trainSeconds: progress.trainSeconds,
  };
}
