/**
 * Training a translator end to end on {@link fit}: BPE per language,
 * length-bucketed batches, AdamW with inverse-square-root warm-up, label
 * smoothing,
 * corpus BLEU and chrF on the validation set every epoch (greedy), and
 * test scores with beam search at the end.
 *
 * @module
 */

import type * as aq from "arquero";
import { foldIn, type Key, key as makeKey, split } from "../../ops/mod.ts";
import {
  cleanText,
  filterLength,
  normalizeText,
  pipe,
  tokenize,
  type Tokenizer,
  tokenizerFromJSON,
  type TokenizerJSON,
  trainBpe,
  translationBatches,
  type TranslationData,
} from "../../data/mod.ts";
import {
  type FullTranslatorConfig,
  initTranslator,
  type TranslationInput,
  type TranslatorConfig,
  translatorConfig,
  translatorLoss,
  type TranslatorParams,
} from "../arch/translator.ts";
import {
  type GruConfig,
  gruLoss,
  type GruParams,
  initGru,
} from "../arch/gru.ts";
import { type AdamState, adamw } from "./optim.ts";
import { inverseSqrt } from "./schedules.ts";
import { corpusBleu, corpusChrf } from "./metrics.ts";
import {
  type EpochRecord,
  fit,
  type FitMetadata,
  type FitProgress,
  loadFitCheckpoint,
  type StepProgress,
} from "./fit.ts";
import { translateTable, type TranslatorModel } from "../inference.ts";
import { storedConfig } from "../arch/attention_resolve.ts";

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
  /** BPE vocabulary per language (default 4000). */
  readonly vocabSize?: number;
  /** Epochs (default 10). */
  readonly epochs?: number;
  /** Tokens per batch, counted with padding (default 4096). */
  readonly maxTokens?: number;
  /** Peak learning rate (default 1e-3). */
  readonly lr?: number;
  /** Warm-up steps (default 400). */
  readonly warmup?: number;
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
  /** Called after each epoch. */
  readonly onEpoch?: (m: TranslationEpochMetrics) => void | Promise<void>;
  /** Called once before training with where the run stands (epoch 0 for a new run). */
  readonly onStart?: (
    progress: FitProgress<TranslatorValidation>,
  ) => void | Promise<void>;
  /** Called after each step (no readback happens for it). */
  readonly onStep?: ((p: StepProgress) => void) | undefined;
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
}

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

/** Trains a translator and scores it on the test split. */
export async function trainTranslator(
  opts: TranslatorTrainOptions,
): Promise<TranslatorTrainResult> {
  const srcCol = opts.source ?? "de", tgtCol = opts.target ?? "en";
  const [kInit, kData, kDrop] = split(makeKey(opts.seed ?? 0), 3);
  const clean = pipe(
    normalizeText([srcCol, tgtCol]),
    cleanText([srcCol, tgtCol]),
    filterLength([srcCol, tgtCol], { min: 1 }),
  );
  const train = clean(opts.data.train);
  const vocabSize = opts.vocabSize ?? 4000;
  const ckpt = opts.checkpoint;
  const archName = opts.arch ?? "transformer";
  const resume = ckpt?.resume
    ? await loadFitCheckpoint<
      Params,
      AdamState,
      TranslatorMeta,
      TranslatorValidation
    >(
      ckpt.path,
      (meta) => {
        if (meta.task !== "translate") {
          throw new RangeError(
            `resume: ${ckpt.path} is not a translation checkpoint; use a new --out`,
          );
        }
      },
    )
    : null;
  const saved = resume?.metadata;
  // The tokenizers of a resumed run come from its checkpoint.
  const srcTok = saved
    ? tokenizerFromJSON(saved.srcTokenizer)
    : trainBpe(train.array(srcCol) as string[], { vocabSize });
  const tgtTok = saved
    ? tokenizerFromJSON(saved.tgtTokenizer)
    : trainBpe(train.array(tgtCol) as string[], { vocabSize });
  const ids = pipe(
    tokenize(srcCol, srcTok, { as: () => "src_ids" }),
    tokenize(tgtCol, tgtTok, { as: () => "tgt_ids" }),
  );
  const maxModelLen = opts.model?.maxLen ?? 64;
  const fits = (t: aq.ColumnTable) =>
    filterLength(["src_ids", "tgt_ids"], { max: maxModelLen - 2 })(t);
  const trainIds = fits(ids(train));
  const validRaw = opts.data.valid.slice(0, opts.validSentences ?? 500);
  // Sources are cleaned as in training; references stay as published.
  const cleanSource = pipe(normalizeText([srcCol]), cleanText([srcCol]));
  const validIds = ids(cleanSource(validRaw));
  const testIds = ids(cleanSource(opts.data.test));
  const labelSmoothing = opts.labelSmoothing ?? 0.1;
  const sizes = { srcVocab: srcTok.vocab.size, tgtVocab: tgtTok.vocab.size };
  const config = archName === "gru"
    ? sizes
    : translatorConfig({ ...opts.model, ...sizes, maxLen: maxModelLen });
  if (
    saved &&
    (saved.arch !== archName ||
      JSON.stringify(saved.config) !== JSON.stringify(storedConfig(config)) ||
      saved.columns.source !== srcCol || saved.columns.target !== tgtCol)
  ) {
    throw new RangeError(
      `resume: ${
        ckpt!.path
      } was trained with another configuration; use a new --out`,
    );
  }
  const model = (
    params: Params,
  ): TranslatorModel & { tgtTokenizer: Tokenizer } =>
    archName === "gru"
      ? {
        arch: "gru",
        params: params as GruParams,
        config,
        tgtTokenizer: tgtTok,
      }
      : {
        arch: "transformer",
        params: params as TranslatorParams,
        config: config as FullTranslatorConfig,
        tgtTokenizer: tgtTok,
      };
  const refs = validRaw.array(tgtCol) as string[];
  const { params, progress } = await fit({
    init: (): Params =>
      archName === "gru"
        ? initGru(kInit!, config)
        : initTranslator(kInit!, config as FullTranslatorConfig),
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
      translationBatches(trainIds, {
        source: "src_ids",
        target: "tgt_ids",
        maxTokens: opts.maxTokens ?? 4096,
        key: foldIn(kData!, epoch),
      }),
    tokens: (b) => b.src.size + b.tgtIn.size,
    optimizer: adamw({
      lr: inverseSqrt({ peak: opts.lr ?? 1e-3, warmup: opts.warmup ?? 400 }),
    }),
    clip: 1,
    key: kDrop!,
    epochs: opts.epochs ?? 10,
    patience: opts.patience ?? 3,
    ...(opts.maxSeconds === undefined ? {} : { maxSeconds: opts.maxSeconds }),
    evaluate: async (p) => {
      const hyp = await translateTable(model(p), validIds, { beam: 1 });
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
            arch: archName,
            // a module is kept as its record { id, source }
            config: storedConfig(config),
            columns: { source: srcCol, target: tgtCol },
            srcTokenizer: srcTok.toJSON(),
            tgtTokenizer: tgtTok.toJSON(),
          } satisfies TranslatorMeta,
        },
      }
      : {}),
    resume,
    ...(opts.onEpoch ? { onEpoch: opts.onEpoch } : {}),
    ...(opts.onStart ? { onStart: opts.onStart } : {}),
    onStep: opts.onStep,
  });
  const hyp = await translateTable(model(params), testIds, {
    beam: opts.beam ?? 4,
  });
  const testRefs = opts.data.test.array(tgtCol) as string[];
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
