/**
 * A text classifier: token embeddings plus positions, N pre-norm encoder
 * blocks whose attention is an attention module (a built-in name, the
 * `--attention` syntax, or any module, several combined), pooling (mean, [CLS] or
 * attention pooling), then a linear head. `initClassifier(key, config)`
 * makes the params pytree; `applyClassifier(params, batch, { config })` is
 * pure.
 *
 * @module
 */

import {
  attention,
  type MultiHead,
  multiHead,
  type MultiHeadParams,
  padding,
  scaledDot,
} from "../../attention/mod.ts";
import {
  add,
  cast,
  concat,
  div,
  expandDims,
  foldIn,
  type Key,
  layerNorm,
  maximum,
  mul,
  normal,
  notEqual,
  ones,
  reshape,
  slice,
  split,
  sum,
  type Tensor,
} from "../../ops/mod.ts";
import { MASKS } from "./attention_specs.ts";
import { initSubwords, ngramTable, withSubwords } from "./subwords.ts";
import { applyBag, type BagParams, initBag, mixBag } from "./_bag.ts";
import {
  type ClassifierConfig,
  classifierConfig,
  type FullClassifierConfig,
} from "./_classifier_config.ts";

export {
  type ClassifierConfig,
  classifierConfig,
  type FullClassifierConfig,
  type Pooling,
} from "./_classifier_config.ts";
import { type AttentionChoice, resolveAttention } from "./attention_resolve.ts";
import {
  boolMask,
  type DropoutLayerOptions,
  embed,
  type EmbeddingParams,
  feedForward,
  type FeedForwardParams,
  initEmbedding,
  initFeedForward,
  initLayerNorm,
  initLearnedPositions,
  initLinear,
  type LayerNormParams,
  linear,
  type LinearParams,
  positions,
  sinusoidalPositions,
  trainDropout,
  type TrainOptions,
} from "./layers.ts";

/** One encoder block's parameters. */
export interface BlockParams {
  /** Self-attention. */
  readonly attn: MultiHeadParams<unknown>;
  /** Norm before attention. */
  readonly ln1: LayerNormParams;
  /** Feed-forward. */
  readonly ffn: FeedForwardParams;
  /** Norm before the feed-forward. */
  readonly ln2: LayerNormParams;
}

/** The classifier's parameters. */
export interface ClassifierParams {
  /** Token embeddings. */
  readonly embed: EmbeddingParams;
  /** Learned positions (absent with sinusoidal ones). */
  readonly pos: EmbeddingParams | null;
  /** Encoder blocks. */
  readonly blocks: readonly BlockParams[];
  /** Final norm. */
  readonly lnf: LayerNormParams;
  /** The [CLS] vector or the pooling query (absent with mean pooling). */
  readonly pool: Tensor | null;
  /** Output layer. */
  readonly head: LinearParams;
  /** Character n-gram embeddings `[subwords + 1, dModel]` (absent without subwords). */
  readonly subwords?: Tensor;
  /** Members 2..N of an ensemble (absent for one model), each a whole classifier. */
  readonly ensemble?: readonly ClassifierParams[];
  /** The bag-of-n-grams member (absent without `bag`). */
  readonly bag?: BagParams;
}

/** The encoder self-attention layer for a config. */
export function encoderAttention(
  c: FullClassifierConfig | {
    dModel: number;
    heads: number;
    attention: AttentionChoice;
  },
): MultiHead<unknown> {
  return multiHead(resolveAttention(c.attention), {
    heads: c.heads,
    dModel: c.dModel,
    context: { masks: MASKS.encoder, role: "encoder" },
  });
}

/**
 * Fresh parameters. Member 0 of an ensemble is the single model `key`
 * makes; member m > 0 is made with `foldIn(key, m)`.
 */
export function initClassifier(
  key: Key,
  config: ClassifierConfig,
): ClassifierParams {
  const c = classifierConfig(config);
  const first = initMember(key, c);
  const bag = c.bag > 0
    ? { bag: initBag(c.vocabSize, c.bag, c.numClasses) }
    : {};
  if (c.members === 1) return { ...first, ...bag };
  const ensemble: ClassifierParams[] = [];
  for (let m = 1; m < c.members; m++) {
    ensemble.push(initMember(foldIn(key, m), c));
  }
  return { ...first, ensemble, ...bag };
}

function initMember(key: Key, c: FullClassifierConfig): ClassifierParams {
  const keys = split(key, 4 + c.layers);
  const mha = encoderAttention(c);
  const blocks: BlockParams[] = [];
  for (let l = 0; l < c.layers; l++) {
    const [ka, kf] = split(keys[4 + l]!);
    blocks.push({
      attn: mha.init(ka!),
      ln1: initLayerNorm(c.dModel),
      ffn: initFeedForward(kf!, c.dModel, c.ffHidden),
      ln2: initLayerNorm(c.dModel),
    });
  }
  return {
    embed: initEmbedding(keys[0]!, c.vocabSize, c.dModel),
    pos: c.positions === "learned"
      ? initLearnedPositions(keys[1]!, c.maxLen + 1, c.dModel)
      : null,
    blocks,
    lnf: initLayerNorm(c.dModel),
    pool: c.pooling === "mean" ? null : mul(normal(keys[2]!, [c.dModel]), 0.02),
    head: initLinear(keys[3]!, c.dModel, c.numClasses),
    ...(c.subwords > 0
      ? { subwords: initSubwords(foldIn(keys[0]!, 1), c.subwords, c.dModel) }
      : {}),
  };
}

/** A batch of token ids with their padding mask (true = real token). */
export interface ClassifierInput {
  /** `[B, T]` int32 */
  readonly ids: Tensor;
  /** `[B, T]` bool (int32 1/0 also taken) */
  readonly mask: Tensor;
}

/** What the classifier returns. */
export interface ClassifierOutput {
  /** `[B, numClasses]` */
  readonly logits: Tensor;
  /** Attention weights of every block, `[B, H, T, T]` each. */
  readonly weights: readonly Tensor[];
  /**
   * A gated multi-module attention's gate in every block, `[B, H, T, K]`
   * (each query's weights on the K modules); empty for other attention.
   */
  readonly gates: readonly Tensor[];
  /**
   * Each ensemble member's logits `[B, numClasses]` (one entry, `logits`,
   * for a single model); training sums their losses so members learn
   * independently. `weights` and `gates` are member 0's.
   */
  readonly members: readonly Tensor[];
  /** Member 0's token states after the final norm, `[B, T, D]` ([CLS] first with "cls" pooling). */
  readonly states: Tensor;
}

/** Options of {@link applyClassifier}. */
export interface ClassifierOptions extends TrainOptions {
  /** The configuration the parameters were made with. */
  readonly config: ClassifierConfig;
}

/**
 * Logits for a batch (an ensemble's are its members' mean). Pure: dropout
 * needs `opts.key` when training; member m > 0 draws from `foldIn(key, m)`.
 */
export function applyClassifier(
  params: ClassifierParams,
  input: ClassifierInput,
  opts: ClassifierOptions,
): ClassifierOutput {
  const c = classifierConfig(opts.config);
  const others = params.ensemble ?? [];
  if (others.length !== c.members - 1) {
    throw new TypeError(
      `classifier: config has ${c.members} members, params ${
        others.length + 1
      }`,
    );
  }
  if ((c.bag > 0) !== (params.bag !== undefined)) {
    throw new TypeError(
      `classifier: config has bag ${c.bag}, params ${
        params.bag ? "a bag member" : "none"
      }`,
    );
  }
  const first = applyMember(params, input, c, opts);
  const members = [first.logits];
  others.forEach((p, i) => {
    const key = opts.key ? foldIn(opts.key, i + 1) : undefined;
    const o = { ...opts, ...(key ? { key } : {}) };
    members.push(applyMember(p, input, c, o).logits);
  });
  let logits = members.length === 1
    ? first.logits
    : div(members.reduce((a, b) => add(a, b)), members.length);
  if (params.bag) {
    const bag = applyBag(params.bag, input.ids, boolMask(input.mask), c.words);
    logits = mixBag(logits, bag);
    members.push(bag);
  }
  if (members.length === 1) return first;
  return { ...first, logits, members };
}

function applyMember(
  params: ClassifierParams,
  input: ClassifierInput,
  c: FullClassifierConfig,
  opts: TrainOptions,
): ClassifierOutput {
  const [b, t0] = input.ids.shape as [number, number];
  if (t0 > c.maxLen) {
    throw new RangeError(
      `classifier: input length ${t0} exceeds maxLen ${c.maxLen}`,
    );
  }
  let keyMask = boolMask(input.mask); // [B, T]
  let x = embed(params.embed, input.ids); // [B, T, D]
  if (params.subwords) {
    const grams = ngramTable(c.words, c.subwords);
    x = withSubwords(x, params.subwords, grams, input.ids);
  }
  x = mul(x, Math.sqrt(c.dModel));
  if (c.pooling === "cls") {
    const cls = reshape(params.pool!, [1, 1, c.dModel]);
    x = concat([mul(cls, ones([b, 1, 1])), x], 1); // [B, 1 + T, D]
    keyMask = concat(
      [notEqual(ones([b, 1], { dtype: "int32" }), 0), keyMask],
      1,
    );
  }
  const t = x.shape[1]!;
  const pos = params.pos
    ? positions(params.pos.table, t)
    : sinusoidalPositions(t, c.dModel);
  x = add(x, pos);
  const keys = opts.training && opts.key
    ? split(opts.key, 2 * c.layers + 1)
    : [];
  const drop = (i: number): DropoutLayerOptions =>
    opts.training && keys[i]
      ? { rate: c.dropout, training: true, key: keys[i]! }
      : { rate: c.dropout };
  x = trainDropout(x, drop(2 * c.layers));
  const mha = encoderAttention(c);
  const weights: Tensor[] = [], gates: Tensor[] = [];
  params.blocks.forEach((blk, l) => {
    const { output, weights: w, gate } = mha.apply(
      blk.attn,
      layerNorm(x, blk.ln1),
      { keyMask },
    );
    weights.push(w);
    if (gate) gates.push(gate);
    x = add(x, trainDropout(output, drop(2 * l)));
    const ff = feedForward(blk.ffn, layerNorm(x, blk.ln2), drop(2 * l + 1));
    x = add(x, trainDropout(ff, drop(2 * l + 1)));
  });
  x = layerNorm(x, params.lnf); // [B, T, D]
  let pooled: Tensor; // [B, D]
  if (c.pooling === "cls") {
    pooled = reshape(slice(x, [0, 0, 0], [b, 1, c.dModel]), [b, c.dModel]); // [CLS]
  } else if (c.pooling === "attention") {
    // One learned query attends over the tokens (padding masked).
    const q = mul(reshape(params.pool!, [1, 1, c.dModel]), ones([b, 1, 1])); // [B, 1, D]
    const pool = attention({ score: scaledDot(), masks: [padding()] });
    const { output, weights: w } = pool(q, x, x, { keyMask });
    weights.push(expandDims(w, 1));
    pooled = reshape(output, [b, c.dModel]);
  } else {
    const m = expandDims(cast(keyMask, "float32"), -1); // [B, T, 1]
    pooled = div(sum(mul(x, m), { axis: 1 }), maximum(sum(m, { axis: 1 }), 1));
  }
  const logits = linear(params.head, pooled); // [B, numClasses]
  return { logits, weights, gates, members: [logits], states: x };
}
