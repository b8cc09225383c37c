/**
 * A trained translator loaded from a checkpoint: translate one sentence
 * (with its cross-attention map) or a whole test split.
 *
 * @module
 */

import * as aq from "arquero";
import {
  BOS_ID,
  cleanText,
  EOS_ID,
  normalizeText,
  pipe,
  tokenize,
  type Tokenizer,
  tokenizerFromJSON,
  type TranslationData,
} from "../data/mod.ts";
import {
  mean,
  notEqual,
  ones,
  reshape,
  scope,
  stack,
  type Tensor,
  tensor,
} from "../ops/mod.ts";
import { releaseNow } from "../ops/memory.ts";
import { loadCheckpoint } from "./train/checkpoint.ts";
import { beamSearch } from "./arch/decoding.ts";
import {
  gruBeamSearch,
  type GruConfig,
  gruDecodeStep,
  gruEncode,
  type GruParams,
  gruProjectKeys,
} from "./arch/gru.ts";
import { corpusBleu, corpusChrf } from "./train/metrics.ts";
import {
  decode,
  encode,
  type FullTranslatorConfig,
  type TranslatorParams,
} from "./arch/translator.ts";
import {
  type DecodeFn,
  translateTable,
  type TranslationProgress,
} from "./train/translate.ts";

/** A trained translator: the best parameters of a run and its metadata. */
export interface LoadedTranslator {
  /** The parameters of the best validation epoch. */
  readonly params: TranslatorParams | GruParams;
  /** What the run saved: configuration, tokenizers, history. */
  readonly progress: TranslationProgress;
  /** The source tokenizer. */
  readonly srcTokenizer: Tokenizer;
  /** The target tokenizer. */
  readonly tgtTokenizer: Tokenizer;
}

/** Loads a translation checkpoint written by `deno task train --task translate`. */
export async function loadTranslator(path: string): Promise<LoadedTranslator> {
  const ck = await loadCheckpoint<
    TranslatorParams | GruParams,
    { best: TranslatorParams | GruParams | null }
  >(path);
  const progress = ck.metadata as unknown as TranslationProgress;
  if (progress.task !== "translate") {
    throw new TypeError(`${path} holds no translator`);
  }
  return {
    params: ck.optState?.best ?? ck.params,
    progress,
    srcTokenizer: tokenizerFromJSON(progress.srcTokenizer),
    tgtTokenizer: tokenizerFromJSON(progress.tgtTokenizer),
  };
}

/** The decoder of a loaded translator: beam search (beam 1 is greedy). */
export function translatorDecoder(m: LoadedTranslator, beam = 4): DecodeFn {
  return (src, maxLen) =>
    m.progress.arch === "gru"
      ? gruBeamSearch(
        m.params as GruParams,
        m.progress.config as GruConfig,
        src,
        {
          beam,
          maxLen,
        },
      )
      : beamSearch(
        m.params as TranslatorParams,
        m.progress.config as FullTranslatorConfig,
        src,
        { beam, maxLen },
      );
}

/** What {@link translateText} returns. */
export interface Translation {
  /** The translation. */
  readonly text: string;
  /** Source pieces, `</s>` last (the heatmap's columns). */
  readonly sourceTokens: string[];
  /** Output pieces, `</s>` last (the heatmap's rows). */
  readonly targetTokens: string[];
  /**
   * Cross-attention `[target, source]` while each output piece was
   * predicted: the last decoder block's, heads averaged, for the
   * Transformer; the additive attention's for the GRU.
   */
  readonly attention: number[][];
}

const piece = (t: string) => t.trim() || "␣";

/** Translates one sentence and reads back where the decoder looked. */
export async function translateText(
  m: LoadedTranslator,
  text: string,
  opts: { readonly beam?: number } = {},
): Promise<Translation> {
  const col = m.progress.columns.source;
  const cleaned = pipe(normalizeText([col]), cleanText([col]))(
    aq.table({ [col]: [text] }),
  ).get(col, 0) as string;
  const body = m.srcTokenizer.encode(cleaned);
  if (body.length === 0) {
    throw new RangeError("predict: the sentence has no tokens");
  }
  const ids = Int32Array.from([...body, EOS_ID]);
  const s = ids.length;
  const src = tensor(ids, { shape: [1, s] });
  const srcMask = tensor(new Int32Array(s).fill(1), { shape: [1, s] });
  const [out] = await translatorDecoder(m, opts.beam ?? 4)(
    { src, srcMask },
    2 * s + 5,
  );
  // Teacher-force the chosen output to read the attention of each step.
  const tgt = Int32Array.from([BOS_ID, ...out!]);
  const attn = scope(() => {
    const t = tgt.length;
    const tgtIn = tensor(tgt, { shape: [1, t] });
    if (m.progress.arch === "gru") {
      const p = m.params as GruParams, c = m.progress.config as GruConfig;
      const { states, last } = gruEncode(p, c, src, srcMask);
      const keyMask = notEqual(srcMask, 0);
      const keys = gruProjectKeys(p, states);
      let h = last;
      const rows: Tensor[] = [];
      for (let i = 0; i < t; i++) {
        const r = gruDecodeStep(
          p,
          c,
          states,
          keyMask,
          tensor(Int32Array.of(tgt[i]!)),
          h,
          keys,
        );
        h = r.h;
        rows.push(reshape(r.weights, [s]));
      }
      return stack(rows, 0);
    }
    const p = m.params as TranslatorParams;
    const c = m.progress.config as FullTranslatorConfig;
    const memory = encode(p, c, src, srcMask);
    const { cross } = decode(
      p,
      c,
      memory,
      srcMask,
      tgtIn,
      ones([1, t], {
        dtype: "int32",
      }),
    );
    return reshape(mean(cross, { axis: 1 }), [t, s]);
  });
  const attention = (await attn.array()) as number[][];
  releaseNow(attn, src, srcMask);
  const words = m.tgtTokenizer.vocab.tokens;
  return {
    text: m.tgtTokenizer.decode(out!),
    sourceTokens: [...m.srcTokenizer.tokenize(cleaned).map(piece), "</s>"],
    targetTokens: [...[...out!].map((i) => piece(words[i]!)), "</s>"],
    attention,
  };
}

/** Test-split scores of a loaded translator. */
export interface TranslationScores {
  /** sacreBLEU's default (13a, cased). */
  readonly bleu: number;
  /** Lower-cased 13a BLEU. */
  readonly bleuLower: number;
  /** chrF. */
  readonly chrf: number;
  /** Sentences scored. */
  readonly sentences: number;
}

/** Translates `data.test` with beam search and scores it. */
export async function evaluateTranslator(
  m: LoadedTranslator,
  data: Pick<TranslationData, "test">,
  opts: { readonly beam?: number } = {},
): Promise<TranslationScores> {
  const { source, target } = m.progress.columns;
  const test = pipe(
    normalizeText([source]),
    cleanText([source]),
    tokenize(source, m.srcTokenizer, { as: () => "src_ids" }),
  )(data.test);
  const hyp = await translateTable(
    translatorDecoder(m, opts.beam ?? 4),
    test,
    m.tgtTokenizer,
  );
  const refs = data.test.array(target) as string[];
  return {
    bleu: corpusBleu(hyp, refs).score,
    bleuLower: corpusBleu(hyp, refs, { lowercase: true }).score,
    chrf: corpusChrf(hyp, refs).score,
    sentences: refs.length,
  };
}
