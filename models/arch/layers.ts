/**
 * Layers as pure `init`/`apply` function pairs over plain parameter
 * pytrees: linear, embedding, layer-norm parameters (apply them with the
 * op: `layerNorm(x, params)`), a training-only dropout, feed-forward, and
 * sinusoidal or learned positions. No layer holds hidden state.
 *
 * @module
 */

import {
  add,
  dropout,
  gelu,
  type Key,
  matmul,
  mul,
  normal,
  notEqual,
  ones,
  slice,
  split,
  take,
  type Tensor,
  tensor,
  zeros,
} from "../../ops/mod.ts";

/** Parameters of a linear layer. */
export interface LinearParams {
  /** `[dIn, dOut]` */
  readonly w: Tensor;
  /** `[dOut]` */
  readonly b: Tensor;
}

/** Glorot-style normal initialisation, std = √(2 / (dIn + dOut)). */
export function initLinear(key: Key, dIn: number, dOut: number): LinearParams {
  return {
    w: mul(normal(key, [dIn, dOut]), Math.sqrt(2 / (dIn + dOut))),
    b: zeros([dOut]),
  };
}

/**
 * `x @ w + b` over the last axis.
 *
 * @example
 * ```ts
 * import { key, ones } from "@heed/heed";
 * import { initLinear, linear } from "@heed/heed/models";
 * import { assertEquals } from "@std/assert";
 *
 * const p = initLinear(key(0), 4, 3);
 * assertEquals(linear(p, ones([2, 5, 4])).shape, [2, 5, 3]);
 * ```
 */
export function linear(p: LinearParams, x: Tensor): Tensor {
  return add(matmul(x, p.w), p.b);
}

/** Parameters of an embedding table. */
export interface EmbeddingParams {
  /** `[vocab, dim]` */
  readonly table: Tensor;
}

/** Normal initialisation with std 1/√dim. */
export function initEmbedding(
  key: Key,
  vocab: number,
  dim: number,
): EmbeddingParams {
  return { table: mul(normal(key, [vocab, dim]), 1 / Math.sqrt(dim)) };
}

/** Looks up int32 ids `[...]` → `[..., dim]`. */
export function embed(p: EmbeddingParams, ids: Tensor): Tensor {
  return take(p.table, ids, 0);
}

/** A padding mask as bool: bool as it is, int32 true where not 0. */
export function boolMask(m: Tensor): Tensor {
  return m.dtype === "bool" ? m : notEqual(m, 0);
}

/** Parameters of layer normalisation: the op's options, so `layerNorm(x, p)` applies them. */
export interface LayerNormParams {
  /** γ, `[dim]` */
  readonly scale: Tensor;
  /** β, `[dim]` */
  readonly offset: Tensor;
}

/** γ = 1, β = 0. */
export function initLayerNorm(dim: number): LayerNormParams {
  return { scale: ones([dim]), offset: zeros([dim]) };
}

/** Options of stochastic layers. */
export interface TrainOptions {
  /** Whether dropout is active. */
  readonly training?: boolean;
  /** The PRNG key for dropout (required when training with a rate > 0). */
  readonly key?: Key;
}

/** Options of {@link trainDropout} and {@link feedForward}. */
export interface DropoutLayerOptions extends TrainOptions {
  /** Probability of zeroing each element while training, in [0, 1). */
  readonly rate: number;
}

/**
 * A dropout layer: the op `dropout` while `training` (with a key), the
 * identity otherwise. (The op `dropout(x, { rate, key })` always drops.)
 *
 * @example
 * ```ts
 * import { key, ones } from "@heed/heed";
 * import { trainDropout } from "@heed/heed/models";
 * import { assertEquals } from "@std/assert";
 *
 * const x = ones([4]);
 * assertEquals(trainDropout(x, { rate: 0.5 }), x); // not training: the identity
 * const y = trainDropout(x, { rate: 0.5, training: true, key: key(0) });
 * assertEquals((await y.data()).every((v) => v === 0 || v === 2), true);
 * ```
 */
export function trainDropout(x: Tensor, opts: DropoutLayerOptions): Tensor {
  if (!opts.training || opts.rate === 0) return x;
  if (!opts.key) {
    throw new TypeError("trainDropout: training with dropout needs a key");
  }
  return dropout(x, { rate: opts.rate, key: opts.key });
}

/** Parameters of a position-wise feed-forward block. */
export interface FeedForwardParams {
  /** `dModel → hidden` */
  readonly in: LinearParams;
  /** `hidden → dModel` */
  readonly out: LinearParams;
}

/** Two linear layers around a GELU. */
export function initFeedForward(
  key: Key,
  dModel: number,
  hidden: number,
): FeedForwardParams {
  const [k1, k2] = split(key);
  return {
    in: initLinear(k1!, dModel, hidden),
    out: initLinear(k2!, hidden, dModel),
  };
}

/** `linear(trainDropout(gelu(linear(x))))`. */
export function feedForward(
  p: FeedForwardParams,
  x: Tensor,
  opts: DropoutLayerOptions = { rate: 0 },
): Tensor {
  return linear(p.out, trainDropout(gelu(linear(p.in, x)), opts));
}

/**
 * The sinusoidal position table of Vaswani et al., `[length, dim]`:
 * PE[t, 2i] = sin(t / 10000^(2i/d)), PE[t, 2i+1] = cos(...).
 */
export function sinusoidalPositions(length: number, dim: number): Tensor {
  const data = new Float32Array(length * dim);
  for (let t = 0; t < length; t++) {
    for (let i = 0; i < dim; i++) {
      const angle = t / 10000 ** ((2 * Math.floor(i / 2)) / dim);
      data[t * dim + i] = i % 2 === 0 ? Math.sin(angle) : Math.cos(angle);
    }
  }
  return tensor(data, { shape: [length, dim] });
}

/** Learned positions: a `[maxLength, dim]` table, small normal init. */
export function initLearnedPositions(
  key: Key,
  maxLength: number,
  dim: number,
): EmbeddingParams {
  return { table: mul(normal(key, [maxLength, dim]), 0.02) };
}

/** The first `length` rows of a position table, `[length, dim]`. */
export function positions(table: Tensor, length: number): Tensor {
  if (length > table.shape[0]!) {
    throw new RangeError(
      `positions: length ${length} exceeds the table's ${
        table.shape[0]
      } positions`,
    );
  }
  return slice(table, [0, 0], [length, table.shape[1]!]);
}

/**
 * `n` dropout settings split from `opts.key` when training, else the bare
 * rate (dropout off): setting `i` goes to the model's `i`-th dropout site.
 */
export function dropoutKeys(
  opts: TrainOptions,
  n: number,
  rate: number,
): (i: number) => DropoutLayerOptions {
  const keys = opts.training && opts.key ? split(opts.key, n) : [];
  return (i) =>
    opts.training && keys[i]
      ? { rate, training: true, key: keys[i]! }
      : { rate };
}
