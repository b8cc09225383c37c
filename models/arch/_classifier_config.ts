/**
 * The classifier's configuration: {@link ClassifierConfig} and its
 * defaults (re-exported by `classifier.ts`).
 *
 * @module
 */

import type { AttentionChoice } from "./attention_resolve.ts";
import { resolveAttention } from "./attention_resolve.ts";

/** How token states become one vector per example. */
export type Pooling = "mean" | "cls" | "attention";

/** Configuration of {@link initClassifier}. */
export interface ClassifierConfig {
  /** Token vocabulary size. */
  readonly vocabSize: number;
  /** Number of classes. */
  readonly numClasses: number;
  /** Model width (default 128). */
  readonly dModel?: number;
  /** Attention heads (default 4). */
  readonly heads?: number;
  /** Encoder blocks (default 2). */
  readonly layers?: number;
  /** Feed-forward hidden width (default 2·dModel). */
  readonly ffHidden?: number;
  /** Longest input (default 128). */
  readonly maxLen?: number;
  /** Dropout rate (default 0.2). */
  readonly dropout?: number;
  /** Pooling (default "mean"). */
  readonly pooling?: Pooling;
  /**
   * The attention module: a built-in name, the `--attention` syntax, a
   * module, or a checkpoint's record of one (default "scaled-dot").
   */
  readonly attention?: AttentionChoice;
  /** Position encoding (default "learned"). */
  readonly positions?: "sinusoidal" | "learned";
  /**
   * Ensemble members (default 1): independent models, each with its own
   * initialisation and dropout, trained side by side; their logits are
   * averaged.
   */
  readonly members?: number;
  /**
   * fastText-style subword inputs: hash buckets of the words' character
   * n-grams, whose mean embedding is added to each word's (default 0, off).
   */
  readonly subwords?: number;
  /**
   * A bag-of-n-grams member (a linear model over words, hashed word pairs
   * and character n-grams, `buckets` hash buckets; default 0, off), whose
   * log-probabilities are averaged with the Transformer members'.
   */
  readonly bag?: number;
  /** The vocabulary's words in id order (needed with `subwords` and `bag`). */
  readonly words?: readonly string[];
}

/** A configuration with every default filled in. */
export type FullClassifierConfig = Required<ClassifierConfig>;

/** Fills in the defaults. */
export function classifierConfig(c: ClassifierConfig): FullClassifierConfig {
  const dModel = c.dModel ?? 128;
  const full: FullClassifierConfig = {
    vocabSize: c.vocabSize,
    numClasses: c.numClasses,
    dModel,
    heads: c.heads ?? 4,
    layers: c.layers ?? 2,
    ffHidden: c.ffHidden ?? 2 * dModel,
    maxLen: c.maxLen ?? 128,
    dropout: c.dropout ?? 0.2,
    pooling: c.pooling ?? "mean",
    attention: c.attention ?? "scaled-dot",
    positions: c.positions ?? "learned",
    members: c.members ?? 1,
    subwords: c.subwords ?? 0,
    bag: c.bag ?? 0,
    words: c.words ?? [],
  };
  for (
    const k of [
      "vocabSize",
      "numClasses",
      "dModel",
      "heads",
      "layers",
      "ffHidden",
      "maxLen",
      "members",
    ] as const
  ) {
    if (!Number.isInteger(full[k]) || full[k] < 1) {
      throw new RangeError(
        `classifier: ${k} must be a positive integer, got ${full[k]}`,
      );
    }
  }
  for (const k of ["subwords", "bag"] as const) {
    if (!Number.isInteger(full[k]) || full[k] < 0) {
      throw new RangeError(
        `classifier: ${k} must be an integer of at least 0, got ${full[k]}`,
      );
    }
    if (full[k] > 0 && full.words.length !== full.vocabSize) {
      throw new RangeError(
        `classifier: ${k} need the ${full.vocabSize} vocabulary words, got ${full.words.length}`,
      );
    }
  }
  if (full.dModel % full.heads !== 0) {
    throw new RangeError(
      `classifier: dModel ${full.dModel} does not split into ${full.heads} heads`,
    );
  }
  // A name or syntax is checked now: an error names the part and choices.
  if (typeof full.attention === "string") resolveAttention(full.attention);
  if (!(full.dropout >= 0 && full.dropout < 1)) {
    throw new RangeError(
      `classifier: dropout must be in [0, 1), got ${full.dropout}`,
    );
  }
  return full;
}
