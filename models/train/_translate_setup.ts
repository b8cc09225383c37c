// What trainTranslator and planTranslator share: the data cleaned and
// tokenized, the BPE tokenizers (a resumed run's from its checkpoint), the
// model's configuration and init, the checkpoint to resume and its checks,
// the warm-up, and the batching.

import type * as aq from "arquero";
import { key as makeKey, split } from "../../ops/mod.ts";
import {
  cleanText,
  filterLength,
  normalizeText,
  pipe,
  tokenize,
  tokenizerFromJSON,
  trainBpe,
} from "../../data/mod.ts";
import {
  type FullTranslatorConfig,
  initTranslator,
  type TranslatorConfig,
  translatorConfig,
  type TranslatorParams,
} from "../arch/translator.ts";
import { type GruParams, initGru } from "../arch/gru.ts";
import type { Tokenizer } from "../../data/mod.ts";
import type { AdamState } from "./optim.ts";
import { loadFitCheckpoint } from "./fit.ts";
import type { TranslatorModel } from "../inference.ts";
import { storedConfig } from "../arch/attention_resolve.ts";
import type {
  TranslatorMeta,
  TranslatorTrainOptions,
  TranslatorValidation,
} from "./translate.ts";

type Params = TranslatorParams | GruParams;

/** The sizes and dropout of a checkpoint's Transformer configuration. */
function savedSizes(config: unknown): Partial<TranslatorConfig> {
  const c = (config ?? {}) as Record<string, unknown>;
  const out: Record<string, number> = {};
  for (
    const k of [
      "dModel",
      "heads",
      "encLayers",
      "decLayers",
      "ffHidden",
      "dropout",
    ] as const
  ) {
    if (typeof c[k] === "number") out[k] = c[k];
  }
  return out as Partial<TranslatorConfig>;
}

/** Everything before fit: data, tokenizers, the model, a resumed checkpoint. */
export async function prepare(opts: TranslatorTrainOptions) {
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
  // A resumed run keeps its own sizes and dropout unless the options give them.
  const config = archName === "gru" ? sizes : translatorConfig({
    ...(saved ? savedSizes(saved.config) : {}),
    ...opts.model,
    ...sizes,
    maxLen: maxModelLen,
  });
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
  const warmup = resumedWarmup(opts.warmup, saved?.warmup, ckpt?.path);
  const batchOptions = {
    source: "src_ids",
    target: "tgt_ids",
    maxTokens: opts.maxTokens ?? 4096,
  };
  const init = (): Params =>
    archName === "gru"
      ? initGru(kInit!, config)
      : initTranslator(kInit!, config as FullTranslatorConfig);
  return {
    srcCol,
    tgtCol,
    kData: kData!,
    kDrop: kDrop!,
    srcTok,
    tgtTok,
    trainIds,
    validIds,
    validRaw,
    testIds,
    labelSmoothing,
    config,
    archName,
    resume,
    model,
    warmup,
    batchOptions,
    init,
  };
}

/** A resumed run's warm-up: its checkpoint's, which `asked` may only repeat. */
function resumedWarmup(
  asked: number | undefined,
  saved: number | undefined,
  path: string | undefined,
): number {
  if (saved === undefined) return asked ?? 400;
  if (asked !== undefined && asked !== saved) {
    throw new RangeError(
      `resume: ${path} was trained with --warmup ${saved}, not ${asked}; drop --warmup or give ${saved}, or train into a new --out`,
    );
  }
  return saved;
}
