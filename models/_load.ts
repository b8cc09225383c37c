/**
 * Loading what `train` saved: a checkpoint's best parameters, checked leaf
 * by leaf (name, dtype, shape) against the model its configuration makes,
 * with the tokenizers and class names. Public through `inference.ts`.
 *
 * @module
 */

import { type Tokenizer, tokenizerFromJSON } from "../data/mod.ts";
import { dispose, key, scope } from "../ops/mod.ts";
import { type Checkpoint, loadCheckpoint } from "./train/checkpoint.ts";
import { checkFinite, validateParams } from "./train/validate.ts";
import {
  type ClassifierParams,
  type FullClassifierConfig,
  initClassifier,
} from "./arch/classifier.ts";
import {
  type FullTranslatorConfig,
  initTranslator,
  type TranslatorParams,
} from "./arch/translator.ts";
import { type GruConfig, type GruParams, initGru } from "./arch/gru.ts";
import type { ClassifierMeta } from "./train/classify.ts";
import type { AttentionModule } from "../attention/mod.ts";
import {
  type AttentionChoice,
  loadAttention,
  MissingModuleError,
} from "./arch/attention_resolve.ts";
import type { TranslatorMeta } from "./train/translate.ts";

/** A classifier with what it needs to read text. */
export interface ClassifierModel {
  /** The parameters. */
  readonly params: ClassifierParams;
  /** The full configuration. */
  readonly config: FullClassifierConfig;
  /** The tokenizer the model reads. */
  readonly tokenizer: Tokenizer;
  /** Class names in id order. */
  readonly labels: readonly string[];
}

/** A translation model of either architecture. */
export type TranslatorModel =
  | {
    readonly arch: "transformer";
    readonly params: TranslatorParams;
    readonly config: FullTranslatorConfig;
  }
  | {
    readonly arch: "gru";
    readonly params: GruParams;
    readonly config: GruConfig;
  };

/** A trained translator: the best parameters of a run, its tokenizers and metadata. */
export type LoadedTranslator = TranslatorModel & {
  /** What the run saved: columns, tokenizers, configuration. */
  readonly metadata: TranslatorMeta;
  /** The source tokenizer. */
  readonly srcTokenizer: Tokenizer;
  /** The target tokenizer. */
  readonly tgtTokenizer: Tokenizer;
};

type Params = TranslatorParams | GruParams;

function translatorFrom(
  path: string,
  ck: Saved<Params, TranslatorMeta>,
): LoadedTranslator {
  const meta = ck.metadata;
  if (meta.task !== "translate") {
    throw new TypeError(`${path} holds no translator`);
  }
  const gru = meta.arch === "gru";
  const params = bestParams(
    path,
    ck,
    () =>
      gru
        ? initGru(key(0), meta.config)
        : initTranslator(key(0), meta.config as FullTranslatorConfig),
  );
  const model: TranslatorModel = gru
    ? { arch: "gru", params: params as GruParams, config: meta.config }
    : {
      arch: "transformer",
      params: params as TranslatorParams,
      config: meta.config as FullTranslatorConfig,
    };
  return {
    ...model,
    metadata: meta,
    srcTokenizer: tokenizerFromJSON(meta.srcTokenizer),
    tgtTokenizer: tokenizerFromJSON(meta.tgtTokenizer),
  };
}

/** Options of the loaders. */
export interface LoadOptions {
  /**
   * Attention modules of your own that the checkpoint may need, matched by
   * id (default: none; a module trained from a file is imported from it).
   */
  readonly modules?: readonly AttentionModule<unknown>[];
}

/**
 * The checkpoint's metadata with its config's attention record replaced by
 * the module (given, or imported from its source); a module that is not
 * available is a {@link MissingModuleError} naming it and the checkpoint.
 */
async function withModule<P, M extends { readonly config?: unknown }>(
  path: string,
  ck: Saved<P, M>,
  opts: LoadOptions,
): Promise<Saved<P, M>> {
  const config = ck.metadata.config as
    | { attention?: AttentionChoice }
    | undefined;
  const a = config?.attention;
  if (a === undefined || typeof a === "string") return ck;
  try {
    const attention = await loadAttention(a, opts);
    return {
      ...ck,
      metadata: { ...ck.metadata, config: { ...config, attention } },
    };
  } catch (e) {
    if (e instanceof MissingModuleError) {
      throw new MissingModuleError(e.id, `${path}: ${e.message}`);
    }
    throw e;
  }
}

/** Loads a translation checkpoint written by `deno task train --task translate` (parameters checked). */
export async function loadTranslator(
  path: string,
  opts: LoadOptions = {},
): Promise<LoadedTranslator> {
  const ck = await withModule(
    path,
    await loadCheckpoint<Params, { best: Params | null }, TranslatorMeta>(path),
    opts,
  );
  return await finite(path, translatorFrom(path, ck));
}

/** `model`, once its parameters are known to be finite (one readback). */
async function finite<M extends { readonly params: unknown }>(
  path: string,
  model: M,
): Promise<M> {
  const bad = await checkFinite(model.params);
  if (bad !== null) {
    throw new RangeError(
      `${path}: parameter ${
        JSON.stringify(bad)
      } is not finite (NaN or infinity): the run diverged or the file was altered`,
    );
  }
  return model;
}

/** A checkpoint as `train` writes it: parameters, best parameters, metadata. */
type Saved<P, M extends object> = Checkpoint<P, { best: P | null }, M>;

/** The best parameters of a checkpoint, checked leaf by leaf against the model `init` makes. */
function bestParams<P>(path: string, ck: Saved<P, object>, init: () => P): P {
  const params = ck.optState?.best ?? ck.params;
  const expected = scope(init);
  try {
    validateParams(expected, params, { what: path });
  } finally {
    dispose(expected);
  }
  return params;
}

function classifierFrom(
  path: string,
  ck: Saved<ClassifierParams, ClassifierMeta>,
): ClassifierModel {
  const meta = ck.metadata;
  if (meta.task !== undefined && meta.task !== "classify") {
    throw new TypeError(`${path} holds no classifier (task ${meta.task})`);
  }
  return {
    params: bestParams(path, ck, () => initClassifier(key(0), meta.config)),
    config: meta.config,
    tokenizer: tokenizerFromJSON(meta.tokenizer),
    labels: meta.labels,
  };
}

/**
 * Loads the best parameters of a classifier checkpoint written by `train`;
 * a parameter whose name, dtype or shape the model does not expect is a
 * TypeError naming it.
 */
export async function loadClassifier(
  path: string,
  opts: LoadOptions = {},
): Promise<ClassifierModel> {
  const ck = await withModule(
    path,
    await loadCheckpoint<
      ClassifierParams,
      { best: ClassifierParams | null },
      ClassifierMeta
    >(path),
    opts,
  );
  return await finite(path, classifierFrom(path, ck));
}

/** A trained model of either task, as `train` saved it. */
export type TrainedModel =
  | { readonly task: "classify"; readonly model: ClassifierModel }
  | { readonly task: "translate"; readonly model: LoadedTranslator };

/** Loads a checkpoint that `train` wrote, whichever task it was trained for. */
export async function loadTrained(
  path: string,
  opts: LoadOptions = {},
): Promise<TrainedModel> {
  const ck = await withModule(
    path,
    await loadCheckpoint<
      unknown,
      { best: unknown },
      { task?: unknown; config?: unknown }
    >(
      path,
    ),
    opts,
  );
  return ck.metadata.task === "translate"
    ? {
      task: "translate",
      model: await finite(
        path,
        translatorFrom(path, ck as Saved<Params, TranslatorMeta>),
      ),
    }
    : {
      task: "classify",
      model: await finite(
        path,
        classifierFrom(path, ck as Saved<ClassifierParams, ClassifierMeta>),
      ),
    };
}
