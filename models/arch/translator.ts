/**
 * An encoder-decoder Transformer translator: source self-attention,
 * causal target self-attention and cross-attention, each built from the
 * config's attention module.
 * `initTranslator(key, config)` makes the params pytree;
 * `applyTranslator(params, batch, { config })`, `encode`, `decode` and
 * `translatorLoss` are pure.
 *
 * @module
 */

import {
  type AttentionResult,
  type ModuleContext,
  type MultiHead,
  multiHead,
  type MultiHeadParams,
} from "../../attention/mod.ts";
import {
  add,
  crossEntropy,
  type Key,
  layerNorm,
  matmul,
  mul,
  split,
  take,
  type Tensor,
  transpose,
} from "../../ops/mod.ts";
import { MASKS } from "./attention_specs.ts";
import {
  type FullTranslatorConfig,
  type TranslatorConfig,
  translatorConfig,
} from "./_translator_config.ts";

export {
  type FullTranslatorConfig,
  type TranslatorConfig,
  translatorConfig,
} from "./_translator_config.ts";
import { resolveAttention } from "./attention_resolve.ts";
import {
  boolMask,
  dropoutKeys,
  embed,
  type EmbeddingParams,
  feedForward,
  type FeedForwardParams,
  initEmbedding,
  initFeedForward,
  initLayerNorm,
  initLearnedPositions,
  type LayerNormParams,
  positions,
  trainDropout,
  type TrainOptions,
} from "./layers.ts";

/** An encoder block. */
export interface EncoderBlock {
  /** Self-attention. */
  readonly attn: MultiHeadParams<unknown>;
  /** Norm before the first sublayer. */
  readonly ln1: LayerNormParams;
  /** Feed-forward. */
  readonly ffn: FeedForwardParams;
  /** Norm before the second sublayer. */
  readonly ln2: LayerNormParams;
}

/** A decoder block. */
export interface DecoderBlock {
  /** Causal self-attention. */
  readonly self: MultiHeadParams<unknown>;
  /** Norm before the first sublayer. */
  readonly ln1: LayerNormParams;
  /** Cross-attention over the encoder memory. */
  readonly cross: MultiHeadParams<unknown>;
  /** Norm before the second sublayer. */
  readonly ln2: LayerNormParams;
  /** Feed-forward. */
  readonly ffn: FeedForwardParams;
  /** Norm before the feed-forward. */
  readonly ln3: LayerNormParams;
}

/** The translator's parameters; the output layer is tied to the target embeddings. */
export interface TranslatorParams {
  /** Source token embeddings (absent with `sharedEmbeddings`: `tgtEmbed` serves). */
  readonly srcEmbed?: EmbeddingParams;
  /** Target token embeddings (also the output layer, and the source's when shared). */
  readonly tgtEmbed: EmbeddingParams;
  /** Learned source positions. */
  readonly srcPos: EmbeddingParams;
  /** Learned target positions. */
  readonly tgtPos: EmbeddingParams;
  /** Encoder blocks. */
  readonly enc: readonly EncoderBlock[];
  /** Final encoder norm. */
  readonly encNorm: LayerNormParams;
  /** Decoder blocks. */
  readonly dec: readonly DecoderBlock[];
  /** Final decoder norm. */
  readonly decNorm: LayerNormParams;
}

/** The translator's three multi-head layers (internal: the decoder's cached step uses them). */
export function translatorLayers(c: FullTranslatorConfig): {
  readonly encSelf: MultiHead<unknown>;
  readonly decSelf: MultiHead<unknown>;
  readonly cross: MultiHead<unknown>;
} {
  const m = resolveAttention(c.attention);
  const opts = (masks: typeof MASKS.encoder, role: ModuleContext["role"]) => ({
    heads: c.heads,
    dModel: c.dModel,
    context: { masks, role },
  });
  return {
    encSelf: multiHead(m, opts(MASKS.encoder, "encoder")),
    decSelf: multiHead(m, opts(MASKS.decoder, "decoder")),
    cross: multiHead(m, opts(MASKS.encoder, "cross")),
  };
}

/** Fresh parameters. */
export function initTranslator(
  key: Key,
  config: TranslatorConfig,
): TranslatorParams {
  const c = translatorConfig(config);
  const l = translatorLayers(c);
  const k = split(key, 4 + c.encLayers + c.decLayers);
  return {
    ...(c.sharedEmbeddings
      ? {}
      : { srcEmbed: initEmbedding(k[0]!, c.srcVocab, c.dModel) }),
    tgtEmbed: initEmbedding(k[1]!, c.tgtVocab, c.dModel),
    srcPos: initLearnedPositions(k[2]!, c.maxLen, c.dModel),
    tgtPos: initLearnedPositions(k[3]!, c.maxLen, c.dModel),
    enc: Array.from({ length: c.encLayers }, (_, i) => {
      const [ka, kf] = split(k[4 + i]!);
      return {
        attn: l.encSelf.init(ka!),
        ln1: initLayerNorm(c.dModel),
        ffn: initFeedForward(kf!, c.dModel, c.ffHidden),
        ln2: initLayerNorm(c.dModel),
      };
    }),
    encNorm: initLayerNorm(c.dModel),
    dec: Array.from({ length: c.decLayers }, (_, i) => {
      const [ks, kc, kf] = split(k[4 + c.encLayers + i]!, 3);
      return {
        self: l.decSelf.init(ks!),
        ln1: initLayerNorm(c.dModel),
        cross: l.cross.init(kc!),
        ln2: initLayerNorm(c.dModel),
        ffn: initFeedForward(kf!, c.dModel, c.ffHidden),
        ln3: initLayerNorm(c.dModel),
      };
    }),
    decNorm: initLayerNorm(c.dModel),
  };
}

/** Options of the translator's functions: its configuration and dropout. */
export interface TranslatorOptions extends TrainOptions {
  /** The configuration the parameters were made with. */
  readonly config: TranslatorConfig;
}

/** Source ids and their padding mask. */
export interface SourceBatch {
  /** `[B, S]` int32 ids. */
  readonly src: Tensor;
  /** `[B, S]` mask, bool or int32 (true / 1 = token). */
  readonly srcMask: Tensor;
}

/** Scaled token embeddings plus learned positions: ids `[B, T]` → `[B, T, D]`. */
function tokens(
  table: EmbeddingParams,
  pos: EmbeddingParams,
  ids: Tensor,
  dModel: number,
): Tensor {
  const t = ids.shape[1]!;
  return add(
    mul(embed(table, ids), Math.sqrt(dModel)),
    positions(pos.table, t),
  );
}

/** The source embedding table: `srcEmbed`, or `tgtEmbed` when shared. */
function sourceTable(
  params: TranslatorParams,
  c: FullTranslatorConfig,
): EmbeddingParams {
  if (c.sharedEmbeddings) return params.tgtEmbed;
  if (!params.srcEmbed) {
    throw new RangeError(
      "translator: the params have no srcEmbed; were they made with sharedEmbeddings?",
    );
  }
  return params.srcEmbed;
}

/** Encodes source ids `[B, S]` into memory `[B, S, D]`. */
export function encode(
  params: TranslatorParams,
  input: SourceBatch,
  opts: TranslatorOptions,
): Tensor {
  return encodeWithWeights(params, input, opts).memory;
}

/** {@link encode}, with every block's self-attention weights `[B, H, S, S]`. */
export function encodeWithWeights(
  params: TranslatorParams,
  input: SourceBatch,
  opts: TranslatorOptions,
): { readonly memory: Tensor; readonly weights: readonly Tensor[] } {
  const c = translatorConfig(opts.config);
  const l = translatorLayers(c);
  const keyMask = boolMask(input.srcMask);
  const drop = dropoutKeys(opts, 2 * c.encLayers + 1, c.dropout);
  let x = tokens(sourceTable(params, c), params.srcPos, input.src, c.dModel);
  x = trainDropout(x, drop(0));
  const attns: AttentionResult[] = [];
  params.enc.forEach((blk, i) => {
    const a = l.encSelf.apply(blk.attn, layerNorm(x, blk.ln1), { keyMask });
    attns.push(a);
    x = add(x, trainDropout(a.output, drop(1 + 2 * i)));
    const ff = feedForward(blk.ffn, layerNorm(x, blk.ln2));
    x = add(x, trainDropout(ff, drop(2 + 2 * i)));
  });
  // The weights are read only when asked for: fused attention makes them then.
  let weights: Tensor[] | undefined;
  return {
    memory: layerNorm(x, params.encNorm),
    get weights(): readonly Tensor[] {
      return weights ??= attns.map((a) => a.weights);
    },
  };
}

/** What {@link decode} and {@link applyTranslator} return. */
export interface DecodeOutput {
  /** `[B, T, tgtVocab]` */
  readonly logits: Tensor;
  /** Cross-attention weights of the last block, `[B, H, T, S]`. */
  readonly cross: Tensor;
  /** Every block's causal self-attention weights, `[B, H, T, T]` each. */
  readonly selfWeights: readonly Tensor[];
  /** Every block's cross-attention weights, `[B, H, T, S]` each. */
  readonly crossWeights: readonly Tensor[];
}

/** The decoder's inputs: encoder memory and teacher-forced target ids. */
export interface DecoderInput {
  /** `[B, S, D]` from {@link encode}. */
  readonly memory: Tensor;
  /** `[B, S]` source mask. */
  readonly srcMask: Tensor;
  /** `[B, T]` int32 decoder inputs (`<bos> y`). */
  readonly tgtIn: Tensor;
  /** `[B, T]` target mask, bool or int32. */
  readonly tgtMask: Tensor;
  /** `int32[1]`: the logits of this position only (`[B, 1, V]`), all a decoding step reads. */
  readonly last?: Tensor;
}

/** Decodes teacher-forced target ids `[B, T]` against memory. */
export function decode(
  params: TranslatorParams,
  input: DecoderInput,
  opts: TranslatorOptions,
): DecodeOutput {
  const c = translatorConfig(opts.config);
  const l = translatorLayers(c);
  const srcKeys = boolMask(input.srcMask);
  const tgtKeys = boolMask(input.tgtMask);
  const drop = dropoutKeys(opts, 3 * c.decLayers + 1, c.dropout);
  let x = tokens(params.tgtEmbed, params.tgtPos, input.tgtIn, c.dModel);
  x = trainDropout(x, drop(0));
  const selfAttns: AttentionResult[] = [], crossAttns: AttentionResult[] = [];
  params.dec.forEach((blk, i) => {
    const sa = l.decSelf.apply(blk.self, layerNorm(x, blk.ln1), {
      keyMask: tgtKeys,
    });
    selfAttns.push(sa);
    x = add(x, trainDropout(sa.output, drop(1 + 3 * i)));
    const ca = l.cross.apply(blk.cross, layerNorm(x, blk.ln2), {
      context: input.memory,
      keyMask: srcKeys,
    });
    crossAttns.push(ca);
    x = add(x, trainDropout(ca.output, drop(2 + 3 * i)));
    const ff = feedForward(blk.ffn, layerNorm(x, blk.ln3));
    x = add(x, trainDropout(ff, drop(3 + 3 * i)));
  });
  if (input.last) x = take(x, input.last, 1); // [B, 1, D]
  x = layerNorm(x, params.decNorm); // [B, T, D]
  // Tied output layer: logits = x Eᵀ.
  const logits = matmul(x, transpose(params.tgtEmbed.table)); // [B, T, V]
  // The weights are read only when asked for: fused attention makes them then.
  let selfWeights: Tensor[] | undefined, crossWeights: Tensor[] | undefined;
  return {
    logits,
    get cross(): Tensor {
      return crossAttns.at(-1)!.weights;
    },
    get selfWeights(): readonly Tensor[] {
      return selfWeights ??= selfAttns.map((a) => a.weights);
    },
    get crossWeights(): readonly Tensor[] {
      return crossWeights ??= crossAttns.map((a) => a.weights);
    },
  };
}

/** A teacher-forcing batch. */
export interface TranslationInput extends SourceBatch {
  /** `[B, T]` int32 decoder inputs (`<bos> y`). */
  readonly tgtIn: Tensor;
  /** `[B, T]` int32 targets (`y <eos>`). */
  readonly tgtOut: Tensor;
  /** `[B, T]` target mask, bool or int32. */
  readonly tgtMask: Tensor;
}

/** What {@link applyTranslator} returns: the decoder's output and the encoder's weights. */
export interface TranslatorOutput extends DecodeOutput {
  /** Every encoder block's self-attention weights, `[B, H, S, S]` each. */
  readonly encoderWeights: readonly Tensor[];
}

/**
 * The whole model on a teacher-forced batch: encode, then decode. With
 * `training`, the encoder and decoder draw dropout from two halves of
 * `key`.
 */
export function applyTranslator(
  params: TranslatorParams,
  input: Omit<TranslationInput, "tgtOut">,
  opts: TranslatorOptions,
): TranslatorOutput {
  const [kEnc, kDec] = opts.training && opts.key
    ? split(opts.key)
    : [undefined, undefined];
  const { config } = opts;
  const encOpts = kEnc ? { config, training: true, key: kEnc } : { config };
  const decOpts = kDec ? { config, training: true, key: kDec } : { config };
  const { memory, weights } = encodeWithWeights(params, input, encOpts);
  return {
    ...decode(params, { ...input, memory }, decOpts),
    encoderWeights: weights,
  };
}

/** Options of {@link translatorLoss}. */
export interface TranslatorLossOptions extends TranslatorOptions {
  /** Label smoothing (default 0). */
  readonly labelSmoothing?: number;
}

/** Mean cross-entropy over real target tokens (padding id 0 is ignored). */
export function translatorLoss(
  params: TranslatorParams,
  batch: TranslationInput,
  opts: TranslatorLossOptions,
): Tensor {
  const { logits } = applyTranslator(params, batch, opts);
  return crossEntropy(logits, batch.tgtOut, {
    ignoreIndex: 0,
    labelSmoothing: opts.labelSmoothing ?? 0,
  });
}
