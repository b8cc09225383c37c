/**
 * The translator's configuration: {@link TranslatorConfig} and its
 * defaults (re-exported by `translator.ts`).
 *
 * @module
 */

import { type AttentionChoice, resolveAttention } from "./attention_resolve.ts";

/** Configuration of the translator (`initTranslator`). */
export interface TranslatorConfig {
  /** Source vocabulary size. */
  readonly srcVocab: number;
  /** Target vocabulary size. */
  readonly tgtVocab: number;
  /** Model width (default 128). */
  readonly dModel?: number;
  /** Heads (default 4). */
  readonly heads?: number;
  /** Encoder blocks (default 2). */
  readonly encLayers?: number;
  /** Decoder blocks (default 2). */
  readonly decLayers?: number;
  /** Feed-forward width (default 4·dModel). */
  readonly ffHidden?: number;
  /** Longest sequence, source or target (default 64). */
  readonly maxLen?: number;
  /** Dropout (default 0.1). */
  readonly dropout?: number;
  /**
   * The attention module of every attention: a built-in name, the
   * `--attention` syntax, a module, or a checkpoint's record of one
   * (default "scaled-dot").
   */
  readonly attention?: AttentionChoice;
  /**
   * One embedding table for source tokens, target tokens and the output
   * layer (three-way tying), for a vocabulary shared by both languages:
   * `srcVocab` must equal `tgtVocab`, and the params have no `srcEmbed`
   * (default false).
   */
  readonly sharedEmbeddings?: boolean;
}

/**
 * A configuration with defaults filled in. `sharedEmbeddings` is present
 * only when true, so configurations from before it compare equal.
 */
export type FullTranslatorConfig =
  & Required<Omit<TranslatorConfig, "sharedEmbeddings">>
  & { readonly sharedEmbeddings?: true };

/** Fills in the defaults and checks the values. */
export function translatorConfig(c: TranslatorConfig): FullTranslatorConfig {
  const dModel = c.dModel ?? 128;
  const f: FullTranslatorConfig = {
    srcVocab: c.srcVocab,
    tgtVocab: c.tgtVocab,
    dModel,
    heads: c.heads ?? 4,
    encLayers: c.encLayers ?? 2,
    decLayers: c.decLayers ?? 2,
    ffHidden: c.ffHidden ?? 4 * dModel,
    maxLen: c.maxLen ?? 64,
    dropout: c.dropout ?? 0.1,
    attention: c.attention ?? "scaled-dot",
    ...(c.sharedEmbeddings ? { sharedEmbeddings: true as const } : {}),
  };
  for (
    const k of [
      "srcVocab",
      "tgtVocab",
      "dModel",
      "heads",
      "encLayers",
      "decLayers",
      "ffHidden",
      "maxLen",
    ] as const
  ) {
    if (!Number.isInteger(f[k]) || f[k] < 1) {
      throw new RangeError(
        `translator: ${k} must be a positive integer, got ${f[k]}`,
      );
    }
  }
  // A name or syntax is checked now: an error names the part and choices.
  if (typeof f.attention === "string") resolveAttention(f.attention);
  if (f.sharedEmbeddings && f.srcVocab !== f.tgtVocab) {
    throw new RangeError(
      `translator: shared embeddings need one vocabulary, got srcVocab ${f.srcVocab} and tgtVocab ${f.tgtVocab}`,
    );
  }
  if (f.dModel % f.heads !== 0) {
    throw new RangeError(
      `translator: dModel ${f.dModel} does not split into ${f.heads} heads`,
    );
  }
  return f;
}
