// The fused forms of the built-in pieces: how a score function and a
// normaliser are written for one flash kernel. They hang off the pieces on
// private symbols, so the public types (ScoreFn, Normaliser) stay plain
// functions. Private to attention/.
//
// A fused score is computed from up to two dot products of query matrices
// with the keys, r_k = q_k · keyᵀ, by an elementwise function: the kernel
// evaluates it tile by tile and never holds the [Tq, Tk] grid.

import type { Tensor } from "../ops/mod.ts";
import type {
  FusedScore,
  FusedScoreForm,
  Normaliser,
  ScoreFn,
} from "./types.ts";
export type { FusedScore, FusedScoreForm };

const FUSED_SCORE: unique symbol = Symbol("heed.attention.fusedScore");

type Tagged = { [FUSED_SCORE]?: FusedScoreForm | string };

/** Attaches the fused form of `fn` (or, as a string, why it has none). */
export function withFusedScore(
  fn: ScoreFn,
  form: FusedScoreForm | string,
): ScoreFn {
  return Object.assign(fn, { [FUSED_SCORE]: form });
}

/** The fused form of `fn`, or why it has none. */
export function fusedScoreOf(fn: ScoreFn): FusedScoreForm | string {
  const form = (fn as Tagged)[FUSED_SCORE];
  if (form !== undefined) return form;
  const name = fn.name ? ` ${fn.name}` : "";
  return `the score function${name} is not a built-in one, so it has no fused form (the built-in scores dot, scaledDot, bilinear, cosine, seedRatio and seedGated have one; give yours one with fusableScore(fn, form))`;
}

/** How a normaliser runs in the kernel. */
export type FusedNormaliser =
  | { readonly kind: "softmax" }
  /** Folded into the score: weights = fn(s) where visible, 0 elsewhere. */
  | { readonly kind: "elementwise"; readonly fn: (s: Tensor) => Tensor };

const FUSED_NORMALISER: unique symbol = Symbol(
  "heed.attention.fusedNormaliser",
);

type TaggedNormaliser = { [FUSED_NORMALISER]?: FusedNormaliser | string };

/** Attaches the fused form of a normaliser (or, as a string, why it has none). */
export function withFusedNormaliser(
  n: Normaliser,
  form: FusedNormaliser | string,
): Normaliser {
  return Object.assign(n, { [FUSED_NORMALISER]: form });
}

/** The fused form of `n`, or why it has none. */
export function fusedNormaliserOf(n: Normaliser): FusedNormaliser | string {
  const form = (n as TaggedNormaliser)[FUSED_NORMALISER];
  if (form !== undefined) return form;
  const name = n.name ? ` ${n.name}` : "";
  return `the normaliser${name} is not a built-in one, so it has no fused form (softmaxNormaliser, sigmoidNormaliser and identityNormaliser have one)`;
}

/**
 * A result whose weights are made on first read (then kept): on the fused
 * path they cost a second kernel, and most callers only use the output.
 */
export function lazyResult<E extends object = Record<never, never>>(
  output: Tensor,
  weights: () => Tensor,
  extra?: E,
): { readonly output: Tensor; readonly weights: Tensor } & E {
  let w: Tensor | undefined;
  return Object.assign({
    output,
    get weights(): Tensor {
      return w ??= weights();
    },
  }, extra) as { readonly output: Tensor; readonly weights: Tensor } & E;
}
