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
import { type AttentionChoice, resolveAttention } from "./attention_resolve.ts";
import {
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
  /** The vocabulary's words in id order (needed with `subwords`). */
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
  if (!Number.isInteger(full.subwords) || full.subwords < 0) {
    throw new RangeError(
      `classifier: subwords must be an integer of at least 0, got ${full.subwords}`,
    );
  }
  if (full.subwords > 0 && full.words.length !== full.vocabSize) {
    throw new RangeError(
      `classifier: subwords need the ${full.vocabSize} vocabulary words, got ${full.words.length}`,
    );
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
  if (c.members === 1) return first;
  const ensemble: ClassifierParams[] = [];
  for (let m = 1; m < c.members; m++) {
    ensemble.push(initMember(foldIn(key, m), c));
  }
  return { ...first, ensemble };
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
  const first = applyMember(params, input, c, opts);
  if (others.length === 0) return first;
  const members = [first.logits];
  others.forEach((p, i) => {
    const key = opts.key ? foldIn(opts.key, i + 1) : undefined;
    const o = { ...opts, ...(key ? { key } : {}) };
    members.push(applyMember(p, input, c, o).logits);
  });
  const logits = div(members.reduce((a, b) => add(a, b)), members.length);
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
  let keyMask = input.mask.dtype === "bool"
    ? input.mask
    : notEqual(input.mask, 0); // [B, T]
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
