/**
 * Explanations of a trained model as one self-contained HTML report: the
 * attention of every layer and head as SVG heatmaps, per-head entropy, the
 * gate's choice per query for gated multi-module attention, attention
 * rollout (Abnar & Zuidema, 2020) for the classifier and cross-attention
 * alignment for the translator. No external assets: inline SVG and CSS.
 *
 * @module
 */

import {
  dispose,
  ones,
  scope,
  softmax,
  type Tensor,
  tensor,
} from "../ops/mod.ts";
import { applyClassifier } from "./arch/classifier.ts";
import { applyTranslator } from "./arch/translator.ts";
import { type ClassifierModel, translateText } from "./inference.ts";
import type { LoadedTranslator } from "./_load.ts";

type Grid = number[][];

/** One attention map of one layer and head, `[queries, keys]`. */
export interface HeadMap {
  /**
   * Which attention: "self" (the classifier's blocks), "pooling" (its
   * pooling query), "encoder self", "decoder self", "cross" or "additive"
   * (the GRU's).
   */
  readonly kind: string;
  /** Layer (block) index, 0 first. */
  readonly layer: number;
  /** Head index. */
  readonly head: number;
  /** The weights, rows are queries. */
  readonly weights: Grid;
  /** Query tokens (rows). */
  readonly rows: readonly string[];
  /** Key tokens (columns). */
  readonly cols: readonly string[];
  /** Whether query i sees only keys 0..i (the decoder's self-attention). */
  readonly causal: boolean;
}

/** Everything a report shows; built by {@link explainClassifier} or {@link explainTranslator}. */
export interface Explanation {
  /** The input text. */
  readonly text: string;
  /** The prediction: a label with its probability, or a translation. */
  readonly prediction: string;
  /** The input's tokens (the classifier's with [CLS] when it pools so). */
  readonly inputTokens: string[];
  /** The output's tokens (translator), or the input's (classifier). */
  readonly outputTokens: string[];
  /** Every layer's and head's map, encoder first, then per decoder block self and cross. */
  readonly maps: HeadMap[];
  /** Per layer, `[H, T, K]` gate weights and the K module names; empty when not gated. */
  readonly gates: { layer: number; modules: string[]; weights: Grid[] }[];
  /** Classifier: the rollout's weight on each input token. */
  readonly rollout: number[] | null;
  /**
   * Translator: per decoder block, the heads-averaged cross-attention
   * `[target, source]` (the GRU: its one additive attention).
   */
  readonly alignment: { layer: number; weights: Grid }[] | null;
}

/** Entropy −Σ p log p (nats) of one attention row; zeros add nothing. */
export function rowEntropy(row: readonly number[]): number {
  let h = 0;
  for (const p of row) if (p > 0) h -= p * Math.log(p);
  return h;
}

/** A map's mean row entropy, in nats; at most log(keys). */
export function meanEntropy(weights: Grid): number {
  return weights.reduce((s, r) => s + rowEntropy(r), 0) / weights.length;
}

/**
 * The mean entropy of uniform attention over the keys each query may see:
 * log K, or the mean of log(i + 1) over queries i for causal attention.
 * A map's {@link meanEntropy} is at most this.
 */
export function uniformEntropy(m: Pick<HeadMap, "weights" | "causal">): number {
  const keys = m.weights[0]?.length ?? 1;
  if (!m.causal) return Math.log(keys);
  const rows = m.weights.length;
  let h = 0;
  for (let i = 0; i < rows; i++) h += Math.log(Math.min(i + 1, keys));
  return h / rows;
}

/**
 * Attention rollout: R = Π_l rownorm(0.5·Ā_l + 0.5·I), last layer on the
 * left, where Ā_l is layer l's attention averaged over heads. Row i of R
 * says how much each input token flows into position i at the top.
 *
 * @example
 * ```ts
 * import { attentionRollout } from "./explain.ts";
 * import { assertAlmostEquals } from "@std/assert";
 *
 * const r = attentionRollout([[[0.5, 0.5], [0, 1]]]);
 * assertAlmostEquals(r[0]![0]! + r[0]![1]!, 1);
 * ```
 */
export function attentionRollout(layers: readonly Grid[]): Grid {
  const t = layers[0]!.length;
  let r: Grid = Array.from(
    { length: t },
    (_, i) => Array.from({ length: t }, (_, j) => (i === j ? 1 : 0)),
  );
  for (const a of layers) {
    const mixed = a.map((row, i) => {
      const m = row.map((w, j) => 0.5 * w + (i === j ? 0.5 : 0));
      const s = m.reduce((x, y) => x + y, 0) || 1;
      return m.map((w) => w / s);
    });
    // r ← mixed · r: the new layer sees the flow the layers below set up
    r = mixed.map((row) =>
      r[0]!.map((_, j) => row.reduce((s, w, k) => s + w * r[k]![j]!, 0))
    );
  }
  return r;
}

const mean = (rows: Grid): number[] =>
  rows[0]!.map((_, j) => rows.reduce((s, r) => s + r[j]!, 0) / rows.length);

async function grids(w: Tensor): Promise<Grid[]> {
  return ((await w.array()) as Grid[][])[0]!; // [1, H, T, K] → H × [T, K]
}

function moduleNames(attention: unknown, k: number): string[] {
  const id = typeof attention === "string"
    ? attention
    : (attention as { id?: string }).id ?? "";
  const m = /^gate(?:=[^:]*)?:(.*)$/.exec(id);
  const names = m ? m[1]!.split("/") : [];
  return Array.from({ length: k }, (_, i) => names[i] ?? `module ${i + 1}`);
}

/** Runs the classifier on `text` and gathers what the report shows. */
export async function explainClassifier(
  m: ClassifierModel,
  text: string,
): Promise<Explanation> {
  const ids = m.tokenizer.encode(text).subarray(0, m.config.maxLen);
  if (ids.length === 0) throw new RangeError("explain: the text has no tokens");
  const pieces = m.tokenizer.tokenize(text).map((p) => p.trim() || "␣")
    .slice(0, ids.length);
  const tokens = m.config.pooling === "cls" ? ["[CLS]", ...pieces] : pieces;
  const out = applyClassifier(m.params, {
    ids: tensor(ids, { shape: [1, ids.length] }),
    mask: ones([1, ids.length], { dtype: "bool" }),
  }, { config: m.config });
  const probs = await softmax(out.logits).data();
  // attention pooling appends its query's weights [1, 1, 1, T] last
  const blocks = out.weights.length -
    (m.config.pooling === "attention" ? 1 : 0);
  const maps: HeadMap[] = [];
  for (const [layer, w] of out.weights.entries()) {
    const pool = layer === blocks;
    for (const [head, weights] of (await grids(w)).entries()) {
      maps.push({
        kind: pool ? "pooling" : "self",
        layer: pool ? 0 : layer,
        head,
        weights,
        rows: pool ? ["[pool]"] : tokens,
        cols: tokens,
        causal: false,
      });
    }
  }
  const gates = [];
  for (const [layer, g] of out.gates.entries()) {
    const weights = await grids(g);
    gates.push({
      layer,
      modules: moduleNames(m.config.attention, weights[0]![0]!.length),
      weights,
    });
  }
  dispose([out.logits, ...out.weights, ...out.gates]);
  const selfMaps = maps.filter((x) => x.kind === "self");
  const layers = Array.from(
    { length: blocks },
    (_, l) =>
      mean3(selfMaps.filter((x) => x.layer === l).map((x) => x.weights)),
  );
  const r = attentionRollout(layers);
  // [CLS] pooling reads position 0, mean pooling every position, attention
  // pooling each position by its query's weight (no residual around it)
  const poolRow = maps.find((x) => x.kind === "pooling")?.weights[0];
  const rollout = m.config.pooling === "cls"
    ? r[0]!
    : poolRow
    ? r[0]!.map((_, j) => poolRow.reduce((s, w, k) => s + w * r[k]![j]!, 0))
    : mean(r);
  const best = [...probs].reduce((b, p, i) => (p > probs[b]! ? i : b), 0);
  return {
    text,
    prediction: `${m.labels[best]} (${(100 * probs[best]!).toFixed(1)} %)`,
    inputTokens: tokens,
    outputTokens: tokens,
    maps,
    gates,
    rollout,
    alignment: null,
  };
}

/** The element-wise mean of equally shaped grids. */
function mean3(gs: readonly Grid[]): Grid {
  return gs[0]!.map((row, i) =>
    row.map((_, j) => gs.reduce((s, g) => s + g[i]![j]!, 0) / gs.length)
  );
}

/**
 * Translates `text`, then teacher-forces the translation once more to read
 * every block's attention per head: the encoder's self-attention, and per
 * decoder block its causal self-attention and its cross-attention.
 */
export async function explainTranslator(
  m: LoadedTranslator,
  text: string,
  opts: { readonly beam?: number } = {},
): Promise<Explanation> {
  const t = await translateText(m, text, opts);
  const src = t.sourceTokens, tgt = t.targetTokens;
  if (m.arch === "gru") {
    return {
      text,
      prediction: t.text,
      inputTokens: src,
      outputTokens: tgt,
      maps: [{
        kind: "additive",
        layer: 0,
        head: 0,
        weights: t.attention,
        rows: tgt,
        cols: src,
        causal: false,
      }],
      gates: [],
      rollout: null,
      alignment: [{ layer: 0, weights: t.attention }],
    };
  }
  const s = t.sourceIds.length, n = t.targetIds.length;
  const out = scope(() =>
    applyTranslator(m.params, {
      src: tensor(t.sourceIds, { shape: [1, s] }),
      srcMask: ones([1, s], { dtype: "bool" }),
      tgtIn: tensor(t.targetIds, { shape: [1, n] }),
      tgtMask: ones([1, n], { dtype: "bool" }),
    }, { config: m.config })
  );
  const maps: HeadMap[] = [];
  const add = async (
    w: Tensor,
    kind: string,
    layer: number,
    [rows, cols]: [string[], string[]],
  ) => {
    for (const [head, weights] of (await grids(w)).entries()) {
      const causal = kind === "decoder self";
      maps.push({ kind, layer, head, weights, rows, cols, causal });
    }
  };
  for (const [l, w] of out.encoderWeights.entries()) {
    await add(w, "encoder self", l, [src, src]);
  }
  for (const [l, w] of out.selfWeights.entries()) {
    await add(w, "decoder self", l, [tgt, tgt]);
    await add(out.crossWeights[l]!, "cross", l, [tgt, src]);
  }
  dispose([
    out.logits,
    ...out.encoderWeights,
    ...out.selfWeights,
    ...out.crossWeights,
  ]);
  const alignment = out.crossWeights.map((_, layer) => ({
    layer,
    weights: mean3(
      maps.filter((x) => x.kind === "cross" && x.layer === layer)
        .map((x) => x.weights),
    ),
  }));
  return {
    text,
    prediction: t.text,
    inputTokens: src,
    outputTokens: tgt,
    maps,
    gates: [],
    rollout: null,
    alignment,
  };
}
