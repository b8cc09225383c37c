/**
 * Explanations of a trained model as one self-contained HTML report: the
 * attention of every layer and head as SVG heatmaps, per-head entropy, the
 * gate's choice per query for gated multi-module attention, attention
 * rollout (Abnar & Zuidema, 2020) for the classifier and cross-attention
 * alignment for the translator. No external assets: inline SVG and CSS.
 *
 * @module
 */

import { dispose, ones, softmax, type Tensor, tensor } from "../ops/mod.ts";
import { applyClassifier } from "./arch/classifier.ts";
import { applyTranslator } from "./arch/translator.ts";
import * as aq from "arquero";
import { BOS_ID, cleanText, EOS_ID, normalizeText, pipe } from "../data/mod.ts";
import { type ClassifierModel, translateText } from "./inference.ts";
import type { LoadedTranslator } from "./_load.ts";

type Grid = number[][];

/** One attention map of one layer and head, `[queries, keys]`. */
export interface HeadMap {
  /** Which attention: "self", "cross" or "gru". */
  readonly kind: string;
  /** Layer index, 0 first. */
  readonly layer: number;
  /** Head index. */
  readonly head: number;
  /** The weights, rows are queries. */
  readonly weights: Grid;
}

/** Everything a report shows; built by {@link explainClassifier} or {@link explainTranslator}. */
export interface Explanation {
  /** The input text. */
  readonly text: string;
  /** The prediction: a label with its probability, or a translation. */
  readonly prediction: string;
  /** Query tokens (rows). */
  readonly rowTokens: string[];
  /** Key tokens (columns). */
  readonly colTokens: string[];
  /** Every layer's and head's map. */
  readonly maps: HeadMap[];
  /** Per layer, `[H, T, K]` gate weights and the K module names; empty when not gated. */
  readonly gates: { layer: number; modules: string[]; weights: Grid[] }[];
  /** Classifier: the rollout's weight on each input token. */
  readonly rollout: number[] | null;
  /** Translator: heads-averaged cross-attention `[target, source]`. */
  readonly alignment: Grid | null;
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
  const maps: HeadMap[] = [];
  for (const [layer, w] of out.weights.entries()) {
    for (const [head, weights] of (await grids(w)).entries()) {
      maps.push({ kind: "self", layer, head, weights });
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
  const layers = Array.from(
    { length: out.weights.length },
    (_, l) => mean3(maps.filter((x) => x.layer === l).map((x) => x.weights)),
  );
  const r = attentionRollout(layers);
  // [CLS] pooling reads position 0; mean and attention pooling read all
  const rollout = m.config.pooling === "cls" ? r[0]! : mean(r);
  const best = [...probs].reduce((b, p, i) => (p > probs[b]! ? i : b), 0);
  return {
    text,
    prediction: `${m.labels[best]} (${(100 * probs[best]!).toFixed(1)} %)`,
    rowTokens: tokens,
    colTokens: tokens,
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

/** Translates `text` and gathers the last decoder block's cross-attention per head. */
export async function explainTranslator(
  m: LoadedTranslator,
  text: string,
  opts: { readonly beam?: number } = {},
): Promise<Explanation> {
  const t = await translateText(m, text, opts);
  let heads: Grid[] = [];
  if (m.arch !== "gru") {
    // teacher-force the translation again, keeping the heads apart
    const col = m.metadata.columns.source;
    const cleaned = pipe(normalizeText([col]), cleanText([col]))(
      aq.table({ [col]: [text] }),
    ).get(col, 0) as string;
    const s = t.sourceTokens.length, n = t.targetTokens.length;
    const body = m.srcTokenizer.encode(cleaned).subarray(0, s - 1);
    const srcIds = Int32Array.from([...body, EOS_ID]);
    const byPiece = new Map<string, number>();
    m.tgtTokenizer.vocab.tokens.forEach((w, i) => {
      if (!byPiece.has(w.trim() || "␣")) byPiece.set(w.trim() || "␣", i);
    });
    const tgtIn = Int32Array.from([
      BOS_ID,
      ...t.targetTokens.slice(0, -1).map((w) => byPiece.get(w) ?? 0),
    ]);
    const out = applyTranslator(m.params, {
      src: tensor(srcIds, { shape: [1, srcIds.length] }),
      srcMask: ones([1, srcIds.length], { dtype: "bool" }),
      tgtIn: tensor(tgtIn, { shape: [1, n] }),
      tgtMask: ones([1, n], { dtype: "bool" }),
    }, { config: m.config });
    heads = await grids(out.cross); // H × [T, S]
    dispose([out.logits, out.cross]);
    // the heads-averaged map is the one to trust if anything differs
    if (heads[0]?.length !== n || heads[0]![0]!.length !== s) heads = [];
  }
  const layer = m.arch === "gru" ? 0 : m.config.decLayers - 1;
  return {
    text,
    prediction: t.text,
    rowTokens: t.targetTokens,
    colTokens: t.sourceTokens,
    maps: (heads.length ? heads : [t.attention]).map((weights, head) => ({
      kind: m.arch === "gru" ? "gru" : "cross",
      layer,
      head,
      weights,
    })),
    gates: [],
    rollout: null,
    alignment: t.attention,
  };
}
