/**
 * The vocabulary of programmable attention. An attention function is data
 * flowing through small pure functions:
 *
 * ```
 * score     (q, k, ctx)     -> s [..., Tq, Tk]
 * mods      (s, ctx)        -> s'          applied in order
 * masks     (ctx)           -> bool        all must hold (logical and)
 * normalise (s, mask, ctx)  -> w [..., Tq, Tk]
 * combine   (w, v)          -> out[..., Tq, dv] = w @ v
 * ```
 *
 * A {@link Spec} names the pieces; `attention(spec)` wires them together.
 * Pieces that learn capture their tensors (`bilinear(W)`), so building the
 * spec inside the function you differentiate makes every captured tensor
 * differentiable, in both `grad` and `jvp`.
 *
 * @module
 */

import type { Key, Tensor } from "../ops/mod.ts";

/**
 * Per-call data. Per-example tensors are aligned with the *leading* axes of
 * the scores: `lengths [B]` or `keyMask [B, Tk]` broadcast over the heads of
 * scores `[B, H, Tq, Tk]`. Each datum is checked against the batch, and a
 * datum that no piece of the spec reads (`lengths` without `padding()`, a
 * dropout `key` without dropout) is a `TypeError`, as is an unknown key.
 */
export interface AttentionOptions {
  /** Valid keys per example (`[B]`, int32 or numbers): key j is real iff its position < length. */
  readonly lengths?: Tensor | readonly number[];
  /** Bool `[B, Tk]`: true where the key is a real token, false for padding. */
  readonly keyMask?: Tensor;
  /** Int32 `[B, Tq]` document ids of the queries (and of the keys, unless `kvSegments`). */
  readonly segments?: Tensor;
  /** Int32 `[B, Tk]` document ids of the keys, when they differ from the queries'. */
  readonly kvSegments?: Tensor;
  /** Int32 positions of the queries, `[Tq]` or `[B, Tq]` (default `queryOffset + 0..Tq-1`). */
  readonly qPositions?: Tensor;
  /** Int32 positions of the keys, `[Tk]` or `[B, Tk]` (default `0..Tk-1`). */
  readonly kPositions?: Tensor;
  /** Added to the default query positions, e.g. `Tk - Tq` when decoding with a cache. */
  readonly queryOffset?: number;
  /** Whether dropout is active (default false). */
  readonly training?: boolean;
  /** The PRNG key for dropout; required when training with a dropout rate. */
  readonly key?: Key;
}

/**
 * What every piece may look at besides its main input: the shape of the
 * scores, the positions of queries and keys, and the call's options.
 */
export interface Context {
  /** Shape of the scores, `[...batch, Tq, Tk]`. */
  readonly shape: readonly number[];
  /** Query positions, int32, broadcastable to the scores: `[..., Tq, 1]`. */
  readonly qPos: Tensor;
  /** Key positions, int32, broadcastable to the scores: `[..., 1, Tk]`. */
  readonly kPos: Tensor;
  /** The options of this call. */
  readonly opts: AttentionOptions;
}

/**
 * A score function: `(q [..., Tq, d], k [..., Tk, d]) -> s [..., Tq, Tk]`,
 * float32, with batch axes that broadcast to those of q and k.
 */
export type ScoreFn = (q: Tensor, k: Tensor, ctx: Context) => Tensor;

/**
 * A score as one flash kernel computes it: up to two query matrices and
 * the keys (computed before the kernel), and the score as an elementwise
 * function of their dot products `r_k = q_k · keyᵀ`, each `[..., Tq, Tk]`.
 */
export interface FusedScore {
  /** `q_0` (and `q_1`), `[..., Tq, d]`. */
  readonly queries: readonly [Tensor] | readonly [Tensor, Tensor];
  /** The keys of the dot products, `[..., Tk, d]`. */
  readonly keys: Tensor;
  /** `s` from the dot products; elementwise ops only. */
  readonly score: (dots: readonly Tensor[]) => Tensor;
}

/** Builds the {@link FusedScore} of a score function for one call. */
export type FusedScoreForm = (
  q: Tensor,
  k: Tensor,
  ctx: Context,
) => FusedScore;

/** A score modifier: `s -> s'`, float32 of the same shape as `s`. */
export type ModFn = (s: Tensor, ctx: Context) => Tensor;

/** A mask: bool, broadcastable to the scores; false means "may not attend". */
export type MaskFn = (ctx: Context) => Tensor;

/** What a normaliser promises; the law checker tests exactly these. */
export interface NormaliserLaws {
  /** Non-masked weights are ≥ 0 and each row with a real key sums to 1. */
  readonly simplex: boolean;
  /** Adding a constant to a row of scores changes nothing. */
  readonly shiftInvariant: boolean;
  /** Differentiable everywhere (finite differences may be trusted). */
  readonly smooth: boolean;
}

/**
 * Turns scores into weights. Masked positions must get exactly 0 and a
 * fully masked row must give zeros, not NaN.
 */
export interface Normaliser {
  /** `(s [..., Tq, Tk], mask bool | null) -> w [..., Tq, Tk]`, float32, the shape of `s`. */
  (s: Tensor, mask: Tensor | null, ctx: Context): Tensor;
  /** The laws this normaliser satisfies. */
  readonly laws: NormaliserLaws;
}

/** The pieces of an attention function. */
export interface Spec {
  /** Scores of every query against every key. */
  readonly score: ScoreFn;
  /** Score modifiers, applied in order (temperature, ALiBi, bias, ...). */
  readonly mods?: readonly ModFn[];
  /** Masks; a key is visible where all of them are true. */
  readonly masks?: readonly MaskFn[];
  /** Scores to weights (default `softmaxNormaliser()`). */
  readonly normalise?: Normaliser;
  /** Dropout rate on the weights when `opts.training` (default 0). */
  readonly dropout?: number;
  /**
   * Whether to run as one fused flash kernel, which never holds the
   * `[Tq, Tk]` weights (default `"auto"`). `"auto"` fuses when every piece
   * has a fused form and the backend has a flash kernel (wasm, WebGPU; the
   * CPU backend stays composed); `true` always fuses (the CPU backend runs
   * the reference kernel) and throws, with the reason, when the spec
   * cannot be fused; `false` never fuses. `explainAttention` says which
   * path a call takes and why.
   */
  readonly fused?: "auto" | boolean;
}

/** What an attention function returns. */
export interface AttentionResult {
  /** `[..., Tq, dv]`, the weighted sums of the values. */
  readonly output: Tensor;
  /**
   * `[..., Tq, Tk]`, the weights (before dropout), so that they can always
   * be inspected. On the fused path they are computed on first read, by
   * the composed ops (the same weights, differentiable): read them inside
   * the same `scope`, `grad` or `jit` as the call, while its inputs are
   * alive.
   */
  readonly weights: Tensor;
}

/** An attention function: `(q, k, v, opts?) -> { output, weights }`. */
export type AttentionFn = (
  q: Tensor,
  k: Tensor,
  v: Tensor,
  opts?: AttentionOptions,
) => AttentionResult;
