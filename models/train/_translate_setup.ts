// What trainTranslator and planTranslator share: the data cleaned and
// tokenized, the BPE tokenizers (a resumed run's from its checkpoint), the
// model's configuration and init, the checkpoint to resume and its checks,
// the warm-up, and the batching.

import type * as aq from "arquero";
import { foldIn, key as makeKey, split } from "../../ops/mod.ts";
import {
  cleanText,
  filterLength,
  hostTranslationBatches,
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

/** The sizes, dropout and embedding sharing of a checkpoint's Transformer configuration. */
function savedSizes(config: unknown): Partial<TranslatorConfig> {
  const c = (config ?? {}) as Record<string, unknown>;
  const out: Record<string, number | boolean> = {};
  if (c.sharedEmbeddings === true) out.sharedEmbeddings = true;
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
  const ckpt = opts.checkpoint;
  const archName = opts.arch ?? "transformer";
  const askShared = opts.model?.sharedEmbeddings;
  if (askShared !== undefined && typeof askShared !== "boolean") {
    throw new TypeError(
      `trainTranslator: model.sharedEmbeddings must be a boolean, got ${typeof askShared}`,
    );
  }
  if (askShared && archName === "gru") {
    throw new RangeError(
      "trainTranslator: shared embeddings are for the Transformer; the GRU model keeps two vocabularies",
    );
  }
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
  const shared = saved
    ? resumedSharing(saved, askShared, opts.vocabSize, ckpt!.path)
    : askShared === true;
  const vocabSize = opts.vocabSize ?? (shared ? 8000 : 4000);
  // The tokenizers of a resumed run come from its checkpoint; a shared
  // vocabulary is learned from both languages' training texts.
  const texts = (col: string) => train.array(col) as string[];
  const joint = !saved && shared
    ? trainBpe([...texts(srcCol), ...texts(tgtCol)], { vocabSize })
    : null;
  const srcTok = saved
    ? tokenizerFromJSON(saved.srcTokenizer)
    : joint ?? trainBpe(texts(srcCol), { vocabSize });
  const tgtTok = saved
    ? tokenizerFromJSON(saved.tgtTokenizer)
    : joint ?? trainBpe(texts(tgtCol), { vocabSize });
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
  const stepsPerEpoch = hostTranslationBatches(trainIds, {
    ...batchOptions,
    key: foldIn(kData!, 1),
  }).length;
  const cosineSteps = resumedDecay(
    opts.decay,
    opts.epochs ?? 10,
    stepsPerEpoch,
    warmup,
    saved,
    ckpt?.path,
  );
  const init = (): Params =>
    archName === "gru"
      ? initGru(kInit!, config)
      : initTranslator(kInit!, config as FullTranslatorConfig);
  return {
    ...(shared ? { sharedVocab: saved?.sharedVocab ?? vocabSize } : {}),
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
    stepsPerEpoch,
    ...(cosineSteps === undefined ? {} : { cosineSteps }),
    init,
  };
}

/**
 * Whether a resumed run shares one vocabulary: its checkpoint says, and
 * the options may only repeat it (and the shared size asked then).
 */
function resumedSharing(
  saved: TranslatorMeta,
  asked: boolean | undefined,
  askedSize: number | undefined,
  path: string,
): boolean {
  const was = (saved.config as { sharedEmbeddings?: boolean })
    .sharedEmbeddings === true;
  if (asked !== undefined && asked !== was) {
    throw new RangeError(
      `resume: ${path} was trained ${
        was ? "with" : "without"
      } a shared vocabulary (--shared-vocab); ${
        was ? "drop --shared-vocab 0" : "drop --shared-vocab"
      }, or train into a new --out`,
    );
  }
  if (
    was && asked && askedSize !== undefined &&
    saved.sharedVocab !== undefined && askedSize !== saved.sharedVocab
  ) {
    throw new RangeError(
      `resume: ${path} was trained with --shared-vocab ${saved.sharedVocab}, not ${askedSize}; drop --shared-vocab or give ${saved.sharedVocab}, or train into a new --out`,
    );
  }
  return was;
}

/**
 * A cosine decay's length in steps, or undefined for the inverse-square-root
 * decay: a resumed run's own, which the options may only repeat.
 */
function resumedDecay(
  asked: TranslatorTrainOptions["decay"],
  epochs: number,
  stepsPerEpoch: number,
  warmup: number,
  saved: TranslatorMeta | undefined,
  path: string | undefined,
): number | undefined {
  if (asked !== undefined && asked !== "cosine" && asked !== "inverse-sqrt") {
    throw new RangeError(
      `trainTranslator: decay must be "inverse-sqrt" or "cosine", got ${
        JSON.stringify(asked)
      }`,
    );
  }
  const steps = epochs * stepsPerEpoch;
  if (saved) {
    const was = saved.cosineSteps;
    const wasName = was === undefined ? "inverse-sqrt" : "cosine";
    if (asked !== undefined && asked !== wasName) {
      throw new RangeError(
        `resume: ${path} was trained with --decay ${wasName}, not ${asked}; drop --decay or give ${wasName}, or train into a new --out`,
      );
    }
    if (was !== undefined && steps !== was) {
      throw new RangeError(
        `resume: ${path} decays its learning rate to 0 over ${was} steps (--epochs ${
          was / stepsPerEpoch
        }), and --epochs ${epochs} gives ${steps}; give --epochs ${
          was / stepsPerEpoch
        }, or train into a new --out`,
      );
    }
    return was;
  }
  if (asked !== "cosine") return undefined;
  if (steps <= warmup) {
    throw new RangeError(
      `trainTranslator: a cosine decay needs more steps than the warm-up: the epochs give ${steps} steps, the warm-up is ${warmup}; give more --epochs or a shorter --warmup`,
    );
  }
  return steps;
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
