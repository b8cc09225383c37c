/**
 * Helpers shared by the tokenisers.
 *
 * @module
 */

import type { TextNormalization } from "./_pretokenize.ts";
import type { EncodeOptions, TokenizerOptions } from "./tokenize.ts";
import { BOS_ID, EOS_ID, PAD_ID, UNK_ID, type Vocab } from "./vocab.ts";

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
export function normalization(opts: TokenizerOptions): TextNormalization {
  return Object.freeze({
    lower: opts.lower ?? false,
    form: opts.form ?? "NFC",
  });
}
