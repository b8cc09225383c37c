/**
 * Inference with trained models: load what `deno task train` saved,
 * classify a text, translate a text (with where the decoder looked), and
 * score a test set. Translation is beam search for both architectures
 * (beam 1 is greedy).
 *
 * @module
 */

import * as aq from "arquero";
import {
  BOS_ID,
  cleanText,
  EOS_ID,
  hostBatches,
  hostTranslationBatches,
  normalizeText,
  pipe,
  tokenize,
  type Tokenizer,
  type TranslationData,
} from "../data/mod.ts";
import {
  dispose,
  mean,
  ones,
  reshape,
  scope,
  slice,
  softmax,
  type Tensor,
  tensor,
} from "../ops/mod.ts";
import { accuracy, corpusBleu, corpusChrf, macroF1 } from "./train/metrics.ts";
import { applyClassifier } from "./arch/classifier.ts";
import { predictBatch } from "./_classify_forward.ts";
import { applyTranslator, type SourceBatch } from "./arch/translator.ts";
import { applyGru, gruDecoder } from "./arch/gru.ts";
import {
  beamSearch,
  type StepDecoder,
  transformerDecoder,
} from "./arch/decoding.ts";
import type {
  ClassifierModel,
  LoadedTranslator,
  TranslatorModel,
} from "./_load.ts";

export {
  type ClassifierModel,
  loadClassifier,
  type LoadedTranslator,
  type LoadOptions,
  loadTrained,
  loadTranslator,
  type TrainedModel,
  type TranslatorModel,
} from "./_load.ts";

/**
 * Predicted class ids for a table's `ids` column, `batchSize` rows at a
 * time (default 256 divided among an ensemble's members, so its batches
 * take the memory of one model's). The forward runs under `jit` (default;
 * `jit: false` runs it eagerly): batch lengths are padded with masked
 * columns to a multiple of 8, one program per padded shape, kept per
 * model configuration across calls.
 */
export async function predictClasses(
  m: Pick<ClassifierModel, "params" | "config">,
  table: aq.ColumnTable,
  opts: { readonly batchSize?: number; readonly jit?: boolean } = {},
): Promise<Int32Array> {
  const { params, config } = m;
  if (opts.jit !== undefined && typeof opts.jit !== "boolean") {
    throw new TypeError(
      `predictClasses: jit must be a boolean, got ${typeof opts.jit}`,
    );
  }
  const out = new Int32Array(table.numRows());
  const reads: Promise<void>[] = [];
  const batchSize = opts.batchSize ??
    Math.max(1, Math.floor(256 / (config.members ?? 1)));
  const rows = cut(table, "ids", config.maxLen);
  for (const b of hostBatches(rows, "ids", { batchSize })) {
    const pred = predictBatch(params, config, b, opts.jit ?? true); // [B]
    reads.push(
      pred.data().then((d) => {
        dispose(pred);
        b.rows.forEach((r, i) => (out[r] = d[i]!));
      }),
    );
  }
  await Promise.all(reads);
  return out;
}

/** What {@link classifyText} returns. */
export interface Classification {
  /** The `top` classes, most likely first. */
  readonly ranked: { label: string; p: number }[];
  /** The last block's attention `[T, T]`, heads averaged. */
  readonly attention: number[][];
  /** The pieces the attention rows and columns stand for. */
  readonly tokens: string[];
  /** Tokens cut from the end because the model reads at most `maxLen` (usually 0). */
  readonly truncated: number;
}

/**
 * The top classes of `text` and the attention map of the last block,
 * averaged over heads.
 *
 * @example An untrained two-class model
 * ```ts
 * import { key } from "@heed/heed";
 * import { trainWordTokenizer } from "@heed/heed/data";
 * import { classifierConfig, classifyText, initClassifier } from "@heed/heed/models";
 * import { assertAlmostEquals, assertEquals } from "@std/assert";
 *
 * const tokenizer = trainWordTokenizer(["my card is lost", "hello there"]);
 * const config = classifierConfig({ vocabSize: tokenizer.vocab.size, numClasses: 2, dModel: 8, heads: 2, layers: 1 });
 * const model = { params: initClassifier(key(0), config), config, tokenizer, labels: ["card", "greeting"] };
 * const r = await classifyText(model, "my card", { top: 2 });
 * assertAlmostEquals(r.ranked[0]!.p + r.ranked[1]!.p, 1, 1e-5);
 * assertEquals([r.tokens.length, r.attention.length], [2, 2]);
 * ```
 */
export async function classifyText(
  m: ClassifierModel,
  text: string,
  opts: { readonly top?: number } = {},
): Promise<Classification> {
  const all = m.tokenizer.encode(text);
  if (all.length === 0) {
    throw new RangeError("predict: the sentence has no tokens");
  }
  // The model reads at most maxLen tokens: the rest is cut (and counted).
  const ids = all.subarray(0, m.config.maxLen);
  const pieces = m.tokenizer.tokenize(text).map(piece).slice(0, ids.length);
  const t = ids.length;
  const { probs, attn } = scope(() => {
    const out = applyClassifier(m.params, {
      ids: tensor(ids, { shape: [1, t] }),
      mask: ones([1, t], { dtype: "bool" }),
    }, { config: m.config });
    const w = out.weights[m.config.layers - 1]!; // [1, H, T', T']
    const tt = w.shape[2]!;
    return {
      probs: softmax(out.logits),
      attn: reshape(
        mean(slice(w, [0, 0, 0, 0], [1, w.shape[1]!, tt, tt]), { axis: 1 }),
        [tt, tt],
      ),
    };
  });
  const [p, a] = await Promise.all([
    probs.data(),
    attn.array() as Promise<number[][]>,
  ]);
  dispose([probs, attn]);
  const ranked = [...p].map((v, i) => ({ label: m.labels[i]!, p: v }))
    .sort((x, y) => y.p - x.p).slice(0, opts.top ?? 3);
  const tokens = m.config.pooling === "cls" ? ["[CLS]", ...pieces] : pieces;
  return { ranked, attention: a, tokens, truncated: all.length - t };
}

/** Test-set scores of a classifier. */
export interface ClassifierScores {
  /** Accuracy. */
  readonly accuracy: number;
  /** Macro-averaged F1. */
  readonly macroF1: number;
  /** Rows scored. */
  readonly rows: number;
}

/** Scores a table with a `text` column and int32 `label` ids. */
export async function evaluateClassifier(
  m: ClassifierModel,
  test: aq.ColumnTable,
): Promise<ClassifierScores> {
  const table = tokenize("text", m.tokenizer, { as: () => "ids" })(test);
  const pred = await predictClasses(m, table);
  const gold = Int32Array.from(table.array("label") as ArrayLike<number>);
  return {
    accuracy: accuracy(pred, gold),
    macroF1: macroF1(pred, gold, m.labels.length),
    rows: gold.length,
  };
}

/** Source tokens the model reads (`<eos>` not counted): the Transformer's positions end at maxLen. */
function sourceLimit(m: TranslatorModel): number {
  return m.arch === "gru" ? Infinity : m.config.maxLen - 1;
}

/** The table with each id sequence of `column` cut to `n` tokens. */
function cut(table: aq.ColumnTable, column: string, n: number): aq.ColumnTable {
  const seqs = table.array(column) as Int32Array[];
  if (seqs.every((x) => x.length <= n)) return table;
  return table.reify().assign({
    [column]: seqs.map((x) => x.length > n ? x.subarray(0, n) : x),
  });
}

/** Most output tokens for sources of `length`: translations rarely run past twice it. */
const maxOutput = (length: number) => 2 * length + 5;

/** The model's {@link StepDecoder} for a batch of sources. */
export function stepDecoder(
  m: TranslatorModel,
  batch: SourceBatch,
  opts: { readonly jit?: boolean } = {},
): StepDecoder<unknown> {
  const { config } = m;
  return (m.arch === "gru"
    ? gruDecoder(m.params, batch, { config: m.config })
    : transformerDecoder(m.params, batch, { config, ...opts })) as StepDecoder<
      unknown
    >;
}

/**
 * Translates a table's `src_ids` column with beam search (beam 1 is
 * greedy), batch by batch, and detokenizes with `m.tgtTokenizer`. The
 * Transformer decodes under jit unless `jit: false`.
 */
export async function translateTable(
  m: TranslatorModel & { readonly tgtTokenizer: Tokenizer },
  table: aq.ColumnTable,
  opts: {
    readonly beam?: number;
    readonly maxTokens?: number;
    readonly jit?: boolean;
  } = {},
): Promise<string[]> {
  const { tgtTokenizer } = m;
  const out = new Array<string>(table.numRows()).fill("");
  const parts = hostTranslationBatches(cut(table, "src_ids", sourceLimit(m)), {
    source: "src_ids",
    target: "src_ids",
    maxTokens: opts.maxTokens ?? 4096,
    batchSize: 64,
  });
  for (const b of parts) {
    const { shape } = b.source;
    using src = tensor(b.source.ids, { shape, dtype: "int32" });
    using srcMask = tensor(b.source.mask, { shape, dtype: "bool" });
    const dec = stepDecoder(m, { src, srcMask }, { jit: opts.jit ?? true });
    const ids = await beamSearch(dec, {
      beam: opts.beam ?? 4,
      maxLen: maxOutput(shape[1]!),
    });
    b.rows.forEach((r, i) => (out[r] = tgtTokenizer.decode(ids[i]!)));
  }
  return out;
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
  /** Source tokens cut from the end because the model reads at most `maxLen` (usually 0). */
  readonly truncated: number;
  /** The ids the encoder read, `</s>` last (one per source token). */
  readonly sourceIds: Int32Array;
  /** The decoder's inputs `<s> y` of the translation (one per target token). */
  readonly targetIds: Int32Array;
}

const piece = (t: string) => t.trim() || "␣";

/** Translates one sentence and reads back where the decoder looked. */
export async function translateText(
  m: LoadedTranslator,
  text: string,
  opts: { readonly beam?: number } = {},
): Promise<Translation> {
  const col = m.metadata.columns.source;
  const cleaned = pipe(normalizeText([col]), cleanText([col]))(
    aq.table({ [col]: [text] }),
  ).get(col, 0) as string;
  const all = m.srcTokenizer.encode(cleaned);
  if (all.length === 0) {
    throw new RangeError("predict: the sentence has no tokens");
  }
  const body = all.subarray(0, sourceLimit(m));
  const ids = Int32Array.from([...body, EOS_ID]);
  const s = ids.length;
  using src = tensor(ids, { shape: [1, s] });
  using srcMask = ones([1, s], { dtype: "bool" });
  const [out] = await beamSearch(stepDecoder(m, { src, srcMask }), {
    beam: opts.beam ?? 4,
    maxLen: maxOutput(s),
  });
  // Teacher-force the chosen output to read the attention of each step.
  const tgt = Int32Array.from([BOS_ID, ...out!]);
  using attn = scope(() => {
    const t = tgt.length;
    const input = { src, srcMask, tgtIn: tensor(tgt, { shape: [1, t] }) };
    const w: Tensor = m.arch === "gru"
      ? applyGru(m.params, input, { config: m.config }).weights // [1, T, S]
      : mean(
        applyTranslator(m.params, {
          ...input,
          tgtMask: ones([1, t], { dtype: "bool" }),
        }, { config: m.config }).cross,
        { axis: 1 },
      ); // [1, T, S]
    return reshape(w, [t, s]);
  });
  const attention = (await attn.array()) as number[][];
  const words = m.tgtTokenizer.vocab.tokens;
  return {
    text: m.tgtTokenizer.decode(out!),
    sourceTokens: [
      ...m.srcTokenizer.tokenize(cleaned).map(piece).slice(0, body.length),
      "</s>",
    ],
    targetTokens: [...[...out!].map((i) => piece(words[i]!)), "</s>"],
    attention,
    truncated: all.length - body.length,
    sourceIds: ids,
    targetIds: tgt,
  };
}

/** Test-split scores of a translator. */
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

/** Translates `data.test` with beam search (under jit unless `jit: false`) and scores it. */
export async function evaluateTranslator(
  m: LoadedTranslator,
  data: Pick<TranslationData, "test">,
  opts: { readonly beam?: number; readonly jit?: boolean } = {},
): Promise<TranslationScores> {
  const { source, target } = m.metadata.columns;
  const test = pipe(
    normalizeText([source]),
    cleanText([source]),
    tokenize(source, m.srcTokenizer, { as: () => "src_ids" }),
  )(data.test);
  const hyp = await translateTable(m, test, opts);
  const refs = data.test.array(target) as string[];
  return {
    bleu: corpusBleu(hyp, refs).score,
    bleuLower: corpusBleu(hyp, refs, { lowercase: true }).score,
    chrf: corpusChrf(hyp, refs).score,
    sentences: refs.length,
  };
}
