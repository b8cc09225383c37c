/**
 * Training a translator end to end: BPE per language, length-bucketed
 * batches, AdamW with inverse-square-root warm-up, label smoothing,
 * corpus BLEU and chrF on the validation set every epoch (greedy), and
 * test scores with beam search at the end.
 *
 * @module
 */

import type * as aq from "arquero";
import {
  add,
  carry,
  foldIn,
  type Key,
  key as makeKey,
  split,
  type Tensor,
  valueAndGrad,
  zeros,
} from "../../ops/mod.ts";
import {
  cleanText,
  filterLength,
  hostTranslationBatches,
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
import { tensor } from "../../ops/mod.ts";
import { releaseNow } from "../../ops/memory.ts";
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
  beamSearch,
  greedyDecode,
  type SourceBatch,
} from "../arch/decoding.ts";
import {
  gruBeamSearch,
  type GruConfig,
  gruGreedy,
  gruLoss,
  type GruParams,
  initGru,
} from "../arch/gru.ts";
import { type AdamState, adamw, clipByGlobalNorm } from "./optim.ts";
import { inverseSqrt } from "./schedules.ts";
import { corpusBleu, corpusChrf } from "./metrics.ts";
import { LossMonitor, type StepProgress } from "./classify.ts";
import {
  type CheckpointMetadata,
  loadCheckpoint,
  saveCheckpoint,
} from "./checkpoint.ts";

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
  /** Called after each step (no readback happens for it). */
  readonly onStep?: ((p: StepProgress) => void) | undefined;
}

/** Metrics of one epoch. */
export interface TranslationEpochMetrics {
  /** Epoch (1-based). */
  readonly epoch: number;
  /** Mean training loss. */
  readonly loss: number;
  /** Validation corpus BLEU (greedy decoding). */
  readonly validBleu: number;
  /** Validation chrF. */
  readonly validChrf: number;
  /** Wall seconds of the epoch (training only). */
  readonly seconds: number;
  /** Training tokens (source + target) per second. */
  readonly tokensPerSecond: number;
}

/** What a translator checkpoint's metadata holds. */
export interface TranslationProgress {
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
  /** The last completed epoch. */
  readonly epoch: number;
  /** Optimiser steps taken. */
  readonly globalStep: number;
  /** Best validation BLEU so far. */
  readonly bestBleu: number;
  /** Epoch of the best validation BLEU. */
  readonly bestEpoch: number;
  /** Training seconds spent so far (validation excluded). */
  readonly trainSeconds: number;
  /** Metrics of the completed epochs. */
  readonly history: readonly TranslationEpochMetrics[];
}

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

/** Decodes a batch of sources into target ids (greedy or beam). */
export type DecodeFn = (
  src: SourceBatch,
  maxLen: number,
) => Promise<Int32Array[]>;

/** Translates a table's `src_ids` column with `decode`, batch by batch. */
export async function translateTable(
  decode: DecodeFn,
  table: aq.ColumnTable,
  tgtTokenizer: Tokenizer,
  maxTokens = 4096,
): Promise<string[]> {
  const out = new Array<string>(table.numRows()).fill("");
  for (
    const b of hostTranslationBatches(table, {
      source: "src_ids",
      target: "src_ids",
      maxTokens,
      batchSize: 64,
    })
  ) {
    const src = tensor(b.source.ids, { shape: b.source.shape, dtype: "int32" });
    const srcMask = tensor(b.source.mask, {
      shape: b.source.shape,
      dtype: "int32",
    });
    // Translations rarely run past twice the source length.
    const ids = await decode({ src, srcMask }, 2 * b.source.shape[1]! + 5);
    releaseNow(src, srcMask);
    b.rows.forEach((r, i) => (out[r] = tgtTokenizer.decode(ids[i]!)));
  }
  return out;
}

/** What the training loop needs of a translation model. */
interface Arch<P> {
  readonly config: FullTranslatorConfig | GruConfig;
  init(key: Key): P;
  loss(p: P, b: TranslationInput, key: Key): Tensor;
  decoder(p: P, beam: number): DecodeFn;
}

function transformerArch(
  config: FullTranslatorConfig,
  smoothing: number,
): Arch<TranslatorParams> {
  return {
    config,
    init: (k) => initTranslator(k, config),
    loss: (p, b, key) =>
      translatorLoss(p, config, b, {
        training: true,
        key,
        labelSmoothing: smoothing,
      }),
    decoder: (p, beam) => (src, maxLen) =>
      beam > 1
        ? beamSearch(p, config, src, { beam, maxLen })
        : greedyDecode(p, config, src, { maxLen }),
  };
}

/** The GRU baseline, decoded greedily or with beam search. */
function gruArch(config: GruConfig, smoothing: number): Arch<GruParams> {
  return {
    config,
    init: (k) => initGru(k, config),
    loss: (p, b) => gruLoss(p, config, b, smoothing),
    decoder: (p, beam) => (src, maxLen) =>
      beam > 1
        ? gruBeamSearch(p, config, src, { beam, maxLen })
        : gruGreedy(p, config, src, { maxLen }),
  };
}

interface State<P> {
  /** The current parameters. */
  readonly params: P;
  /** See the type. */
  readonly opt: AdamState;
  /** See the type. */
  readonly lossSum: Tensor;
  /** The best parameters so far (kept in the loop's state so \`carry\` keeps them alive). */
  readonly best: P | null;
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
  const saved = ckpt?.resume
    ? await loadCheckpoint<unknown, { opt: AdamState; best: unknown }>(
      ckpt.path,
    )
    : null;
  const progress = saved?.metadata as TranslationProgress | undefined;
  if (saved && progress?.task !== "translate") {
    throw new RangeError(
      `resume: ${ckpt!.path} is not a translation checkpoint; use a new --out`,
    );
  }
  // The tokenizers of a resumed run come from its checkpoint.
  const srcTok = progress
    ? tokenizerFromJSON(progress.srcTokenizer)
    : trainBpe(train.array(srcCol) as string[], { vocabSize });
  const tgtTok = progress
    ? tokenizerFromJSON(progress.tgtTokenizer)
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
  const smoothing = opts.labelSmoothing ?? 0.1;
  const sizes = { srcVocab: srcTok.vocab.size, tgtVocab: tgtTok.vocab.size };
  const archName = opts.arch ?? "transformer";
  const arch: Arch<unknown> = archName === "gru"
    ? gruArch(sizes, smoothing) as Arch<unknown>
    : transformerArch(
      translatorConfig({ ...opts.model, ...sizes, maxLen: maxModelLen }),
      smoothing,
    ) as Arch<unknown>;
  const optimizer = adamw({
    lr: inverseSqrt({ peak: opts.lr ?? 1e-3, warmup: opts.warmup ?? 400 }),
  });
  const vg = valueAndGrad((p: unknown, b: TranslationInput, k: Key) =>
    arch.loss(p, b, k)
  );
  const params = arch.init(kInit!);
  let state: State<unknown> = {
    params,
    opt: optimizer.init(params),
    lossSum: zeros([]),
    best: null,
  };
  let history: TranslationEpochMetrics[] = [];
  let step = 0;
  let best = { bleu: -1, epoch: 0 };
  let trainSeconds = 0;
  let firstEpoch = 1;
  if (saved && progress) {
    if (
      progress.arch !== archName ||
      JSON.stringify(progress.config) !== JSON.stringify(arch.config)
    ) {
      throw new RangeError(
        `resume: ${
          ckpt!.path
        } was trained with another configuration; use a new --out`,
      );
    }
    state = {
      params: saved.params,
      opt: saved.optState!.opt,
      lossSum: zeros([]),
      best: saved.optState!.best ?? null,
    };
    history = [...progress.history];
    step = progress.globalStep;
    best = { bleu: progress.bestBleu, epoch: progress.bestEpoch };
    trainSeconds = progress.trainSeconds;
    firstEpoch = progress.epoch + 1;
  }
  const patience = opts.patience ?? 3;
  const budget = opts.maxSeconds ?? Infinity;
  const stopped = () => {
    const last = history[history.length - 1];
    if (!last) return false;
    if (last.epoch - best.epoch >= patience) return true;
    return trainSeconds + last.seconds > budget;
  };
  const monitor = new LossMonitor();
  for (let epoch = firstEpoch; epoch <= (opts.epochs ?? 10); epoch++) {
    if (stopped()) break;
    const t0 = performance.now();
    const bs = translationBatches(trainIds, {
      source: "src_ids",
      target: "tgt_ids",
      maxTokens: opts.maxTokens ?? 4096,
      key: foldIn(kData!, epoch),
    });
    state = carry(state, (s) => ({ ...s, lossSum: zeros([]) }));
    monitor.reset();
    let tokens = 0;
    for (let i = 0; i < bs.length; i++) {
      const b = bs[i]!;
      const k = foldIn(kDrop!, step++);
      state = carry(state, (s) => {
        const [loss, g] = vg(s.params, b, k);
        const { grads } = clipByGlobalNorm(g, 1);
        const n = optimizer.update(s.params, grads, s.opt);
        return {
          params: n.params,
          opt: n.state,
          lossSum: add(s.lossSum, loss),
          best: s.best,
        };
      });
      tokens += b.src.size + b.tgtIn.size;
      await monitor.report(opts.onStep, state.lossSum, {
        epoch,
        step: i + 1,
        steps: bs.length,
        tokens,
      });
    }
    releaseNow(
      ...bs.flatMap((
        b,
      ) => [
        b.src,
        b.srcMask,
        b.srcLengths,
        b.tgtIn,
        b.tgtOut,
        b.tgtMask,
        b.tgtLengths,
      ]),
    );
    const loss = ((await state.lossSum.item()) as number) /
      Math.max(bs.length, 1);
    const seconds = (performance.now() - t0) / 1000;
    trainSeconds += seconds;
    const hyp = await translateTable(
      arch.decoder(state.params, 1),
      validIds,
      tgtTok,
    );
    const refs = validRaw.array(tgtCol) as string[];
    const m: TranslationEpochMetrics = {
      epoch,
      loss,
      validBleu: corpusBleu(hyp, refs).score,
      validChrf: corpusChrf(hyp, refs).score,
      seconds,
      tokensPerSecond: tokens / seconds,
    };
    history.push(m);
    await opts.onEpoch?.(m);
    if (m.validBleu > best.bleu) {
      best = { bleu: m.validBleu, epoch };
      state = carry(state, (s) => ({ ...s, best: s.params }));
    }
    if (ckpt) {
      const meta: TranslationProgress = {
        task: "translate",
        arch: archName,
        config: arch.config,
        columns: { source: srcCol, target: tgtCol },
        srcTokenizer: srcTok.toJSON(),
        tgtTokenizer: tgtTok.toJSON(),
        epoch,
        globalStep: step,
        bestBleu: best.bleu,
        bestEpoch: best.epoch,
        trainSeconds,
        history,
      };
      await saveCheckpoint(ckpt.path, {
        params: state.params,
        optState: { opt: state.opt, best: state.best },
        metadata: meta as unknown as CheckpointMetadata,
      });
    }
  }
  const bestParams = state.best ?? state.params;
  const hyp = await translateTable(
    arch.decoder(bestParams, opts.beam ?? 4),
    testIds,
    tgtTok,
  );
  const refs = opts.data.test.array(tgtCol) as string[];
  return {
    params: bestParams as TranslatorParams | GruParams,
    config: arch.config,
    srcTokenizer: srcTok,
    tgtTokenizer: tgtTok,
    testBleu: corpusBleu(hyp, refs).score,
    testBleuLower: corpusBleu(hyp, refs, { lowercase: true }).score,
    testChrf: corpusChrf(hyp, refs).score,
    history,
    bestEpoch: best.epoch,
    trainSeconds,
  };
}
