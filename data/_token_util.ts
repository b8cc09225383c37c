/**
 * Helpers shared by the tokenisers.
 *
 * @module
 */

import { normalizeForTokens, type TextNormalization } from "./_pretokenize.ts";
import type {
  EncodeOptions,
  NormalizationOptions,
  TokenizerOptions,
} from "./tokenize.ts";
import {
  BOS_ID,
  countTokens,
  EOS_ID,
  PAD_ID,
  UNK_ID,
  type Vocab,
  vocabFromCounts,
} from "./vocab.ts";

/** Frames ids with `<bos>`/`<eos>` as asked. */
export function frame(ids: ArrayLike<number>, opts: EncodeOptions): Int32Array {
  const head = opts.bos ? 1 : 0;
  const out = new Int32Array(ids.length + head + (opts.eos ? 1 : 0));
  if (opts.bos) out[0] = BOS_ID;
  for (let i = 0; i < ids.length; i++) out[head + i] = ids[i]!;
  if (opts.eos) out[out.length - 1] = EOS_ID;
  return out;
}

/** Token strings of ids, without pad/bos/eos; `<unk>` as `unk`. */
export function pieces(
  vocab: Vocab,
  ids: ArrayLike<number>,
  unk: string,
): string[] {
  const out: string[] = [];
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i]!;
    if (id === PAD_ID || id === BOS_ID || id === EOS_ID) continue;
    out.push(id === UNK_ID ? unk : vocab.token(id));
  }
  return out;
}

/** Normalisation settings from trainer options. */
export function normalization(opts: NormalizationOptions): TextNormalization {
  return Object.freeze({
    lower: opts.lower ?? false,
    form: opts.form ?? "NFC",
  });
}

/**
 * A vocabulary of the pieces that `split` cuts from each normalised text,
 * as the word and character trainers build it.
 */
export function trainVocab(
  texts: Iterable<string>,
  opts: TokenizerOptions,
  split: (normalized: string) => string[],
): { vocab: Vocab; norm: TextNormalization } {
  const norm = normalization(opts);
  const seqs = (function* () {
    for (const t of texts) yield split(normalizeForTokens(t, norm));
  })();
  return { vocab: vocabFromCounts(countTokens(seqs), opts), norm };
}
